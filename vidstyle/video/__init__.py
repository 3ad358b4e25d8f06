"""Videos: optical flow and masks, the one frame chain (used by the offline run, the webcam, Ray
segments and the batched mode), the offline run with its threads, work folder and resume, and
the temporal metrics."""
