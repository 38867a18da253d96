"""MkDocs hook: write the CLI reference from the Typer app itself, so the page cannot go stale.

The marker ``<!-- costa-cli-reference -->`` in a page is replaced by one section per command
(help text, usage line, arguments and options), read from ``costa.cli.app``. Duck-typed on
the click API, which recent Typer releases vendor rather than import.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- costa-cli-reference -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "&#124;")


def _rows(cmd: Any, ctx: Any) -> list[str]:
    rows = []
    for p in cmd.get_params(ctx):
        if p.name == "help":
            continue
        if p.param_type_name == "argument":
            rows.append(f"| `{(p.name or '').upper()}` | {_cell(getattr(p, 'help', '') or '')} |")
        else:
            record = p.get_help_record(ctx)
            if record:
                rows.append(f"| `{_cell(record[0])}` | {_cell(record[1])} |")
    return ["| argument / option | description |", "|---|---|", *rows, ""] if rows else []


def _sections(cmd: Any, path: list[str], parent: Any) -> list[str]:
    ctx = cmd.context_class(cmd, info_name=path[-1], parent=parent)
    group = hasattr(cmd, "list_commands")
    out: list[str] = []
    if len(path) > 1:
        out += [f"{'#' * min(len(path), 4)} `{' '.join(path)}`", ""]
        if cmd.help:
            out += [cmd.help.strip(), ""]
        if not group:
            args = [(p.name or "").upper() for p in cmd.get_params(ctx) if p.param_type_name == "argument"]
            out += ["```", " ".join([*path, "[OPTIONS]", *args]), "```", ""]
            out += _rows(cmd, ctx)
    if group:
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += _sections(sub, [*path, name], ctx)
    return out


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    import typer

    from costa.cli import app

    return markdown.replace(MARKER, "\n".join(_sections(typer.main.get_command(app), ["costa"], None)))
