"""Files in and out, knowing nothing of style: image files, PyAV probe/read/write, audio remux,
segment files and their assembly."""
