"""The lint rules that follow a stage's state, walked as BuildKit dispatches every stage for a check.

Rules: UndefinedVar, UndefinedArgInFrom, InvalidDefaultArgInFrom, RedundantTargetPlatform,
FromPlatformFlagConstDisallowed, InvalidBaseImagePlatform, WorkdirRelativePath,
MultipleInstructionsDisallowed, JSONArgsRecommended, SecretsUsedInArgOrEnv, LegacyKeyValueFormat.
A stage starts from its base: an earlier stage (its variables, ARG names, SHELL and whether WORKDIR
was set carry over), ``scratch`` (only ``PATH``), or an image (its config, from the lookup; unknown
when the lookup cannot tell, and then the variable rules stay silent in that stage). The words
expanded are those BuildKit expands (RUN, CMD, ENTRYPOINT, HEALTHCHECK and SHELL are left to the
shell). Errors BuildKit stops at (a blank or invalid base name) raise ``DockerfileError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from bake.dockerfile import instructions as ins
from bake.dockerfile.lint_refs import go_quote, levenshtein_suggest, reference_error, valid_reference
from bake.dockerfile.lint_types import ImageInfo, ImageLookup, Warning
from bake.dockerfile.parser import Document
from bake.dockerfile.shell import ExpansionError, expand_heredoc, expand_word
from bake.errors import DockerfileError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NON_ENV_ARGS = frozenset({"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"})
_SECRET = re.compile(r"(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)")
_NOT_SECRET = re.compile(r"(?i)(?:_|^)(?:public|file|version)(?:_|$)")


class _Recorder(dict[str, str]):
    """An environment that remembers the names looked up and not found (BuildKit's "unmatched")."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self.missing: list[str] = []
        self.found: list[str] = []

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if key in self:
            self.found.append(key)
            return self[key]
        if key not in self.missing:
            self.missing.append(key)
        return default


class _Stage:
    """The state of one stage as dispatch goes: variables (None: unknown), ARG names, SHELL, WORKDIR."""

    def __init__(self, env: dict[str, str] | None, args: list[str], shell: tuple[str, ...], workdir_set: bool,
                 os: str) -> None:
        self.env = env
        self.args = args
        self.shell = shell
        self.workdir_set = workdir_set
        self.os = os
        self.used: dict[str, int] = {}  # CMD/ENTRYPOINT/HEALTHCHECK → the line that set it


def dispatch_rules(doc: Document, instrs: list[ins.Instruction], images: ImageLookup | None, platform: str,
                   out: list[Warning]) -> None:
    """Append the stage rules' warnings to ``out``; raise ``DockerfileError`` where BuildKit stops."""
    first = next((i for i, inst in enumerate(instrs) if isinstance(inst, ins.From)), len(instrs))
    if first == len(instrs):
        raise DockerfileError("dockerfile contains no stages to build", doc.file, 1)
    meta = [a for a in instrs[:first] if isinstance(a, ins.Arg)]
    if len(meta) != first:
        bad = instrs[len(meta)]
        raise DockerfileError("no build stage in current context", doc.file, bad.loc.start_line)
    defaults = _platform_args(platform)
    stages = list(_split(instrs[first:]))
    # InvalidDefaultArgInFrom: the base names with only the ARG defaults
    plain = _meta_args(meta, defaults, {}, doc.escape)
    for head, _ in stages:
        try:
            name = expand_word(head.image, plain, doc.escape)
        except ExpansionError:
            break
        if not valid_reference(name):
            out.append(Warning("InvalidDefaultArgInFrom",
                               f"Default value for ARG {head.image} results in empty or invalid base image name",
                               head.loc.start_line))
    global_args = _meta_args(meta, defaults, {}, doc.escape)
    declared = {name for a in meta for name, _ in a.pairs} | set(global_args)
    states: dict[str, _Stage] = {}
    heads: list[tuple[ins.From, str, str]] = []
    for head, _ in stages:
        base = _from_word(head.image, global_args, declared, head, doc.escape, out)
        if not base:
            raise DockerfileError(f"base name ({head.image}) should not be blank", doc.file, head.loc.start_line)
        plat = platform
        if head.platform:
            plat = _from_platform(head, global_args, declared, doc.escape, out)
        heads.append((head, base, plat))
    for (head, body), (_, base, plat) in zip(stages, heads, strict=True):
        st = _start(head, base, plat, states, images, doc, out)
        for inst in body:
            _dispatch(inst, st, global_args, doc.escape, out)
        if head.name:
            states[head.name] = st


def _split(instrs: list[ins.Instruction]) -> Iterator[tuple[ins.From, list[ins.Instruction]]]:
    head: ins.From | None = None
    body: list[ins.Instruction] = []
    for inst in instrs:
        if isinstance(inst, ins.From):
            if head is not None:
                yield head, body
            head, body = inst, []
        else:
            body.append(inst)
    if head is not None:
        yield head, body


def _platform_args(platform: str) -> dict[str, str]:
    parts = [*platform.split("/"), "", ""][:3]
    out: dict[str, str] = {}
    for prefix in ("BUILD", "TARGET"):
        out.update({f"{prefix}PLATFORM": platform, f"{prefix}OS": parts[0], f"{prefix}OSVERSION": "",
                    f"{prefix}ARCH": parts[1], f"{prefix}VARIANT": parts[2]})
    out["TARGETSTAGE"] = "default"
    return out


def _meta_args(meta: list[ins.Arg], defaults: dict[str, str], build_args: Mapping[str, str],
               escape: str) -> dict[str, str]:
    env = dict(defaults)
    for a in meta:
        for name, value in a.pairs:
            if name in build_args:
                env[name] = build_args[name]
            elif value is not None:
                try:
                    env[name] = expand_word(value, env, escape)
                except ExpansionError as err:
                    raise DockerfileError(err.message, a.loc.file, a.loc.start_line) from None
    return env


def _from_word(word: str, global_args: dict[str, str], declared: set[str], head: ins.From, escape: str,
               out: list[Warning]) -> str:
    env = _Recorder(global_args)
    try:
        value = expand_word(word, env, escape)
    except ExpansionError as err:
        raise DockerfileError(err.message, head.loc.file, head.loc.start_line) from None
    for name in env.missing:
        if name not in declared:
            hint = levenshtein_suggest(name, sorted(declared))
            out.append(Warning("UndefinedArgInFrom", f"FROM argument '{name}' is not declared"
                               + (f" (did you mean {hint}?)" if hint else ""), head.loc.start_line))
    return value


def _from_platform(head: ins.From, global_args: dict[str, str], declared: set[str], escape: str,
                   out: list[Warning]) -> str:
    word = head.platform or ""
    env = _Recorder(global_args)
    value = _from_word(word, global_args, declared, head, escape, out)
    expand_word(word, env, escape)
    line = head.loc.start_line
    if env.found == ["TARGETPLATFORM"] and not env.missing and value == global_args.get("TARGETPLATFORM"):
        out.append(Warning("RedundantTargetPlatform", f"Setting platform to predefined {word} in FROM is redundant "
                           "as this is the default behavior", line))
    if not env.found and not env.missing:
        parts = value.split("/")
        name = head.name or ""
        if len(parts) >= 2 and parts[0] not in name and _arch(parts[1]) not in name:
            out.append(Warning("FromPlatformFlagConstDisallowed",
                               f"FROM --platform flag should not use constant value {go_quote(value)}", line))
    if not value:
        raise DockerfileError(f"empty platform value from expression {word}", head.loc.file, line)
    return value


def _arch(arch: str) -> str:
    return {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}.get(arch, arch)


def _start(head: ins.From, base: str, platform: str, states: dict[str, _Stage], images: ImageLookup | None,
           doc: Document, out: list[Warning]) -> _Stage:
    os = platform.split("/")[0]
    if base in states:
        prev = states[base]
        inherited = dict(prev.env) if prev.env is not None else None
        return _Stage(inherited, list(prev.args), prev.shell, prev.workdir_set, prev.os)
    if base.lower() == "scratch":
        return _Stage({} if os == "windows" else {"PATH": DEFAULT_PATH}, [], (), False, os)
    if not valid_reference(base):
        raise DockerfileError(f'failed to parse stage name "{base}": {reference_error(base)}', doc.file,
                              head.loc.start_line)
    info: ImageInfo | None = images(base, platform) if images is not None else None
    if info is None:
        return _Stage(None, [], (), False, os)
    wanted = platform.split("/")
    if [info.os, info.architecture] != wanted[:2]:
        actual = "/".join(p for p in (info.os, info.architecture, info.variant) if p)
        out.append(Warning("InvalidBaseImagePlatform", f"Base image {base} was pulled with platform {go_quote(actual)}, "
                           f"expected {go_quote(platform)} for current build", head.loc.start_line))
    env: dict[str, str] = {}
    for line in info.env:
        key, _, value = line.partition("=")
        env[key] = value
    if "PATH" not in env and info.os != "windows":
        env["PATH"] = DEFAULT_PATH
    return _Stage(env, [], info.shell, False, info.os)


def _expand(word: str, st: _Stage, inst: ins.Instruction, escape: str, out: list[Warning],
            heredoc: bool = False) -> str:
    """``word`` expanded in the stage's environment; unknown names are UndefinedVar warnings."""
    if st.env is None:
        try:
            return expand_word(word, {}, escape)
        except ExpansionError:
            return word
    env = _Recorder(st.env)
    try:
        value = expand_heredoc(word, env) if heredoc else expand_word(word, env, escape)
    except ExpansionError as err:
        raise DockerfileError(err.message, inst.loc.file, inst.loc.start_line) from None
    for name in env.missing:
        if name in st.args or name in _NON_ENV_ARGS:
            continue
        hint = levenshtein_suggest(name, list(st.env))
        out.append(Warning("UndefinedVar", f"Usage of undefined variable '${name}'"
                           + (f" (did you mean ${hint}?)" if hint else ""), inst.loc.start_line))
    return value


def _dispatch(inst: ins.Instruction, st: _Stage, global_args: dict[str, str], escape: str, out: list[Warning]) -> None:
    line = inst.loc.start_line
    if isinstance(inst, ins.Env):
        values = [(_expand(k, st, inst, escape, out), _expand(v, st, inst, escape, out)) for k, v in inst.pairs]
        for key, _ in inst.pairs:
            _secret("ENV", key, line, out)
        if st.env is not None:
            st.env.update(values)
    elif isinstance(inst, ins.Label):
        for k, v in inst.pairs:
            _expand(k, st, inst, escape, out)
            _expand(v, st, inst, escape, out)
    elif isinstance(inst, ins.Arg):
        for name, default in inst.pairs:
            _secret("ARG", name, line, out)
            value: str | None = None
            if default is not None:
                value = _expand(default, st, inst, escape, out)
            elif name in global_args:
                value = global_args[name]
            if value is not None and st.env is not None and name not in _NON_ENV_ARGS:
                st.env[name] = value
            st.args.append(name)
    elif isinstance(inst, ins.Workdir):
        path = _expand(inst.path, st, inst, escape, out)
        if not st.workdir_set and not _is_abs(path, st.os):
            out.append(Warning("WorkdirRelativePath",
                               f"Relative workdir {go_quote(path)} can have unexpected results if the base image changes",
                               line))
        st.workdir_set = True
    elif isinstance(inst, ins.Copy):
        for word in (inst.chown, inst.chmod, *inst.sources, inst.dest):
            if word and not word.startswith("<<"):
                _expand(word, st, inst, escape, out)
        for doc in inst.heredocs:
            if doc.expand:
                _expand(doc.content, st, inst, escape, out, heredoc=True)
    elif isinstance(inst, ins.User):
        _expand(inst.user, st, inst, escape, out)
    elif isinstance(inst, ins.Volume):
        for path in inst.paths:
            _expand(path, st, inst, escape, out)
    elif isinstance(inst, ins.StopSignal):
        _expand(inst.signal, st, inst, escape, out)
    elif isinstance(inst, ins.Run):
        for m in inst.mounts:
            for word in (m.target, m.source, m.from_, m.id, m.env):
                if word:
                    _expand(word, st, inst, escape, out)
    elif isinstance(inst, ins.Shell):
        st.shell = inst.args
    elif isinstance(inst, ins.Cmd | ins.Entrypoint | ins.Healthcheck):
        name = {ins.Cmd: "CMD", ins.Entrypoint: "ENTRYPOINT", ins.Healthcheck: "HEALTHCHECK"}[type(inst)]
        if name in st.used:
            out.append(Warning("MultipleInstructionsDisallowed", f"Multiple {name} instructions should not be used "
                               "in the same stage because only the last one will be used", st.used[name]))
        st.used[name] = line
        if isinstance(inst, ins.Cmd | ins.Entrypoint) and inst.command.shell and not st.shell:
            out.append(Warning("JSONArgsRecommended", f"JSON arguments recommended for {name} to prevent "
                               "unintended behavior related to OS signals", line))


def _secret(instruction: str, key: str, line: int, out: list[Warning]) -> None:
    if _SECRET.search(key) and not _NOT_SECRET.search(key):
        out.append(Warning("SecretsUsedInArgOrEnv", "Do not use ARG or ENV instructions for sensitive data "
                           f"({instruction} {go_quote(key)})", line))


def _is_abs(path: str, os: str) -> bool:
    if os == "windows":
        return bool(re.match(r"^(?:[A-Za-z]:)?[\\/]", path))
    return path.startswith("/")
