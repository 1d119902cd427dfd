"""Interactive terminal clients (sqlline, harlequin) driven as a person
would: a detached tmux session, keys sent, the screen read back."""

import shutil
import subprocess
import time

import pytest


class Tmux:
    """A detached tmux session running one program, read with capture-pane."""

    def __init__(self, name: str, command: str, width: int = 220, height: int = 60):
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed: .ci/run installs it (apt-get install tmux)")
        self.name = name
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command], check=True)

    def type(self, text: str):
        """Types `text` literally; a trailing `;` is escaped, or tmux reads it as its own command separator."""
        if text.endswith(";"):
            text = text[:-1] + "\\;"
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def press(self, *keys: str):
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        run = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-2000", "-t", self.name],
                             capture_output=True, text=True)
        return run.stdout

    def wait_for(self, text: str, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {seconds}s; the screen:\n{self.screen()}")

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
