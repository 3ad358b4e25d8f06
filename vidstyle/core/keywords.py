"""Settings from keyword options: what ``vidstyle.stylize(..., **options)`` and
``vidstyle.stylize_video(..., **options)`` take.

An option names a field of the settings class (``size``, ``warm_iters``), a field of one of
its nested settings (``alpha`` -> ``loss.alpha``, ``device`` -> ``model.device``), a whole
nested settings object (``loss=LossSettings(...)``) or one of the CLI's names for a nested
field (``style_scale``, ``cartoon_colors``, ...). Everything not given keeps its default from
:mod:`vidstyle.settings`; an unknown or ambiguous name is a ``TypeError``, as for any Python call.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

#: The CLI's option names for nested fields whose own names are ambiguous or unclear.
ALIASES = {
    "style_size": ("style", "size"),
    "style_scale": ("style", "scale"),
    "style_blend": ("style", "blend"),
    "cartoon_blend": ("cartoon", "blend"),
    "cartoon_colors": ("cartoon", "colors"),
    "cartoon_edges": ("cartoon", "edge_strength"),
    "cartoon": ("cartoon", "enabled"),
}


def _nested(cls: type) -> dict[str, type]:
    """The fields of ``cls`` that are settings dataclasses themselves: name -> class."""
    defaults = cls()
    return {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(cls)
            if dataclasses.is_dataclass(getattr(defaults, f.name))}


def option_paths(cls: type) -> dict[str, tuple[str, ...] | None]:
    """Every option name ``cls`` takes -> its field path (None: ambiguous between nested settings)."""
    nested = _nested(cls)
    paths: dict[str, tuple[str, ...] | None] = {}
    for name, sub in nested.items():
        for f in dataclasses.fields(sub):
            paths[f.name] = None if f.name in paths else (name, f.name)
    paths.update({alias: path for alias, path in ALIASES.items() if path[0] in nested})
    paths.update({f.name: (f.name,) for f in dataclasses.fields(cls)})  # the class's own fields win
    return paths


def settings_from_options(cls: type, options: dict[str, Any], *, caller: str, reserved: tuple[str, ...] = ()) -> Any:
    """``cls()`` with ``options`` applied (see the module docstring). ``caller`` names the
    function in the ``TypeError`` for an unknown, ambiguous or ``reserved`` option (fields the
    caller fills itself, e.g. ``input``)."""
    paths, nested = option_paths(cls), _nested(cls)
    top: dict[str, Any] = {}
    changes: dict[str, dict[str, Any]] = {}
    for name, value in options.items():
        if name in reserved:
            raise TypeError(f"{caller}() sets {name!r} itself; it cannot be an option")
        if name in nested:
            if isinstance(value, nested[name]):
                top[name] = value
                continue
            if name not in ALIASES:
                raise TypeError(f"{caller}() option {name!r} must be a {nested[name].__name__}, "
                                f"not {type(value).__name__}")
            path = ALIASES[name]
        elif name not in paths:
            close = difflib.get_close_matches(name, [p for p in paths if p not in reserved], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TypeError(f"{caller}() got an unexpected option {name!r}{hint}")
        else:
            path = paths[name]
        if path is None:
            owners = [n for n, sub in nested.items() if name in {f.name for f in dataclasses.fields(sub)}]
            by_path = {path: alias for alias, path in ALIASES.items()}
            spelled = " or ".join(by_path.get((owner, name), f"{owner}={nested[owner].__name__}({name}=...)")
                                  for owner in owners)
            raise TypeError(f"{caller}() option {name!r} is ambiguous: pass {spelled}")
        if len(path) == 1:
            top[name] = value
        else:
            changes.setdefault(path[0], {})[path[1]] = value
    settings = dataclasses.replace(cls(), **top)
    for owner, values in changes.items():
        top[owner] = dataclasses.replace(getattr(settings, owner), **values)
    return dataclasses.replace(settings, **top)
