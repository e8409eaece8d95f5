"""The records the linter speaks in: a warning, and what it may know of a base image."""

from __future__ import annotations

import re
from collections.abc import Callable

from bake._record import record

URL = "https://docs.docker.com/go/dockerfile/rule/{}/"


@record
class Warning:
    """One finding: BuildKit's rule name, its message and the (first) line it points at."""

    rule: str
    message: str
    line: int

    @property
    def url(self) -> str:
        return URL.format(re.sub(r"(?<!^)(?=[A-Z])", "-", self.rule).lower().replace("j-s-o-n", "json"))


@record
class ImageInfo:
    """What the linter reads from a base image's config: ``env`` as ``KEY=value`` lines, the SHELL
    it sets (empty: none) and its platform."""

    env: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""


# (image reference as written after ARG expansion, platform "os/arch[/variant]") → its config, or None
# when it is not known (the rules that need it then say nothing for that stage).
ImageLookup = Callable[[str, str], ImageInfo | None]
