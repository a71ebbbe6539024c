"""The one exception type the launcher raises for anything a user can meet."""

from __future__ import annotations


class StackError(Exception):
    """A failure with a message that says what happened and what to do next.

    The CLI prints the message alone (no traceback), so every message must
    stand on its own.
    """


def port_taken(port: int, env_var: str, service: str, holder: str = "") -> StackError:
    """Build the error for a port that something else already listens on."""
    who = f" by {holder}" if holder else " by another process (or a server still shutting down: retry in a few seconds)"
    return StackError(
        f"{service}: port {port} is already taken{who}.\n"
        f"  Find it with:  ss -ltnp 'sport = :{port}'\n"
        f"  Stop that process, or move {service} to another port with {env_var}=<port>."
    )


def tail_text(text: str, lines: int = 30) -> str:
    """Last `lines` lines of `text`, for error messages."""
    return "\n".join(text.rstrip().splitlines()[-lines:])
