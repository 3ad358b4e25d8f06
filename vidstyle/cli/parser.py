"""The argparse classes of every command: one-line usage errors that point to the right --help,
and help text that never breaks inside an option's name."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .options import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (and still exits 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201
        """argparse's, but the command's parser reports the options it does not know (its --help)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands = next((a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), {})
            commands.get(getattr(parsed, "command", None), self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, but lines never break inside --option-names or post-process."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return textwrap.fill(self._whitespace_matcher.sub(" ", text).strip(), width, initial_indent=indent,
                             subsequent_indent=indent, break_on_hyphens=False)


FORMATTER = Formatter
