"""The webcam: camera sources and newest-frame capture, the window and its keys, and the live loop
(which stylizes through the frame chain of :mod:`vidstyle.video.chain`)."""
