"""The plan block printed before a video run states the warm budget the chain may really spend."""

import dataclasses

from vidstyle.cli.report import video_plan
from vidstyle.settings import OptimSettings, VideoSettings


def budget_line(**changes) -> str:
    settings = VideoSettings(input="in.mp4", output="out.mp4", **changes)
    lines = video_plan(settings, frames=4, size=(48, 32), source=(48, 32), device="cpu", weights="random")
    return next(line for line in lines if line.lstrip().startswith("iters"))


def test_the_plan_names_the_catch_up_ceiling_of_warm_frames():
    optim = dataclasses.replace(OptimSettings(), iters=100, tol=0.0)
    # Catch-up margin on (the default), limit 1.5: 30 -> ceil(45.0) = 45, 2 -> ceil(3.0) = 3, 5 -> ceil(7.5) = 8.
    assert budget_line(optim=optim, warm_iters=30, tol=0.0).endswith(
        "first frame 100, then 30 per frame, up to 45 with catch-up")
    assert budget_line(optim=optim, warm_iters=2, tol=0.0).endswith("then 2 per frame, up to 3 with catch-up")
    assert budget_line(optim=optim, warm_iters=5, tol=0.0, catch_up_limit=1.5).endswith("up to 8 with catch-up")
    # Never above the cold budget: 80 x 1.5 = 120 is capped at 100.
    assert budget_line(optim=optim, warm_iters=80, tol=0.0).endswith("then 80 per frame, up to 100 with catch-up")
    # Margin off: the warm budget is the most a warm frame spends.
    assert budget_line(optim=optim, warm_iters=30, tol=0.0, catch_up_margin=0.0).endswith(
        "first frame 100, then up to 30 per frame")
    # --catch-up-gain alone: a frame that is all new gets 30 + ceil(0.5 x 70) = 65.
    assert budget_line(optim=optim, warm_iters=30, tol=0.0, catch_up_margin=0.0, catch_up_gain=0.5).endswith(
        "then 30 per frame, up to 65 with catch-up")
