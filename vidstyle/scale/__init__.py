"""Ray: connecting to a cluster, one video as frame ranges (one task each), folders of clips.

Ray itself is imported only when a function here is asked to use it."""
