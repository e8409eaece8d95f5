"""Dockerfile → graph for one target and one platform (the frontend's last step).

Each needed stage is dispatched instruction by instruction over an immutable ``State``; the
image config travels alongside. Words expand where BuildKit expands them (FROM, COPY/ADD and
their flags, ENV, LABEL, EXPOSE, USER, VOLUME, WORKDIR, STOPSIGNAL, ``--mount`` fields), with
whichever of ENV and an ARG's value came last; RUN/CMD/ENTRYPOINT are left to the shell.
"""

from __future__ import annotations

from collections.abc import Mapping

from bake._record import record, replace
from bake.content.imageconfig import History, ImageConfig
from bake.dockerfile import instructions as ins
from bake.dockerfile.config import ImageConfigResolver
from bake.dockerfile.convert_copy import copy
from bake.dockerfile.convert_run import command, mounts
from bake.dockerfile.convert_values import go_quoted, healthcheck, set_env, workdir_of
from bake.dockerfile.parser import parse
from bake.dockerfile.shell import ExpansionError, expand_heredoc, expand_word, expand_words
from bake.dockerfile.stages import Stage, platform_args, split_stages
from bake.dockerfile.step_names import copy_name, run_name, single_stage, step_name
from bake.errors import DockerfileError
from bake.graph.ops import Mkdir, SourceOp
from bake.graph.state import State, image, local, scratch

IMPLICIT_ARGS = frozenset({
    "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy", "SOURCE_DATE_EPOCH",
})


@record
class BuildInputs:
    """What bake's target says about this build (platforms as ``os/arch[/variant]``)."""

    platform: str
    build_platform: str
    target: str | None = None
    build_args: Mapping[str, str] | None = None
    context: str = "context"
    dockerignore: tuple[str, ...] = ()
    named_contexts: Mapping[str, State] | None = None
    named_configs: Mapping[str, ImageConfig] | None = None  # image configs of target:/docker-image:// contexts
    network: str | None = None
    no_cache: bool = False
    no_cache_filter: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()  # "host=ip"
    shm_size: int | None = None  # bytes
    ulimits: tuple[str, ...] = ()


@record
class Converted:
    """The target stage's filesystem and config, and every converted stage's state by index."""

    state: State
    config: ImageConfig
    stages: dict[int, State]


def convert(text: str, inputs: BuildInputs, resolver: ImageConfigResolver, file: str = "Dockerfile") -> Converted:
    doc = parse(text, file)
    auto = platform_args(inputs.build_platform, inputs.platform)
    if inputs.target:
        auto["TARGETSTAGE"] = inputs.target
    build_args = dict(inputs.build_args or {})
    contexts = dict(inputs.named_contexts or {})
    plan = split_stages(ins.instructions(doc), build_args, auto, inputs.target, frozenset(contexts), doc.escape)
    context_state = local(inputs.context, exclude=inputs.dockerignore, name="[internal] load build context")
    names = {s.name: s.index for s in plan.stages if s.name is not None}
    done: dict[int, tuple[State, ImageConfig]] = {}
    args_of: dict[int, tuple[dict[str, str | None], dict[str, str]]] = {}  # a child stage inherits its base's
    for index in plan.needed:
        stage = plan.stages[index]
        d = _Stage(stage, plan.global_args, build_args, auto, inputs, resolver, done, contexts, context_state, names,
                   doc.escape, args_of, single=single_stage(plan.stages))
        done[index] = d.run()
        args_of[index] = (d.args, d.overrides)
    state, config = done[plan.target]
    return Converted(state, config, {i: s for i, (s, _) in done.items()})


class _Stage:
    def __init__(
        self, stage: Stage, global_args: Mapping[str, str | None], build_args: Mapping[str, str],
        auto: Mapping[str, str], inputs: BuildInputs, resolver: ImageConfigResolver,
        done: Mapping[int, tuple[State, ImageConfig]], contexts: Mapping[str, State], context_state: State,
        names: Mapping[str, int], escape: str,
        args_of: Mapping[int, tuple[dict[str, str | None], dict[str, str]]], single: bool = False,
    ) -> None:
        self.stage = stage
        self.single = single  # the Dockerfile's only stage: BuildKit labels its steps without a name
        self.names = names
        self.escape = escape
        self.global_args = global_args
        self.build_args = build_args
        self.auto = auto
        self.inputs = inputs
        self.resolver = resolver
        self.done = done
        self.contexts = contexts
        self.context_state = context_state
        self.platform = stage.platform or inputs.platform
        self.args_of = args_of
        self.args: dict[str, str | None] = {}  # declared ARGs in order; None: declared without a value
        # ARG values set after any ENV of their name: BuildKit puts an ARG's value into the step
        # environment as ENV does, so whichever came last is what words and RUN see (the image
        # config keeps the ENV value)
        self.overrides: dict[str, str] = {}
        self.cmd_set = False  # a CMD in this stage (not its base's) survives a later ENTRYPOINT
        self.ignore_cache = inputs.no_cache or (stage.name is not None and stage.name in inputs.no_cache_filter)

    # --- the base ----------------------------------------------------------------------------

    def base(self) -> tuple[State, ImageConfig]:
        ref = self.stage.base
        if ref.kind == "stage":
            state, config = self.done[int(ref.value)]
            args, overrides = self.args_of.get(int(ref.value), ({}, {}))
            self.args = dict(args)  # BuildKit: a stage inherits its base's ARGs
            # and its step environment, over which the image config's ENV is applied again
            self.overrides = {k: v for k, v in overrides.items() if k not in config.env_map()}
            return replace(state, platform=self.platform), config
        if ref.kind == "context":
            # a target: or docker-image:// context is an image: its config (ENV, WORKDIR, labels,
            # history…) comes with it, as BuildKit gives it to the stage built on it
            state = replace(self.contexts[ref.value], platform=self.platform)
            if ref.value in (self.inputs.named_configs or {}):
                return state, (self.inputs.named_configs or {})[ref.value]
            # a directory (or git/http) context is a rootfs without a config: BuildKit gives it
            # the empty image's (default PATH, WorkingDir /); its layer has no history entry
            source = state.vertex.op.identifier if state.vertex and isinstance(state.vertex.op, SourceOp) else ""
            described = (f"local source for {ref.value}",) if source.startswith("local://") else ("",)
            return state.with_env("PATH", DEFAULT_PATH), ImageConfig(env=(f"PATH={DEFAULT_PATH}",), workdir="/",
                                                                     unrecorded=described)
        if ref.kind == "scratch":  # BuildKit's empty image: the default PATH, WorkingDir /
            return scratch(self.platform).with_env("PATH", DEFAULT_PATH), ImageConfig(env=(f"PATH={DEFAULT_PATH}",),
                                                                                      workdir="/")
        name = normalize_ref(ref.value)
        config = self.resolver.resolve(name, self.platform)
        state = image(name, self.platform)
        for item in config.env:
            k, _, v = item.partition("=")
            state = state.with_env(k, v)
        return state.with_cwd(config.workdir or "/").with_user(config.user), config

    def run(self) -> tuple[State, ImageConfig]:
        state, config = self.base()
        if "PATH" not in config.env_map():  # BuildKit makes sure every stage's config has a PATH
            config = replace(config, env=(*config.env, f"PATH={DEFAULT_PATH}"))
            state = state.with_env("PATH", DEFAULT_PATH)
        triggers = [ins.build(parse(t, self.stage.loc.file).nodes[0], self.stage.loc.file, self.escape)
                    for t in config.onbuild]  # the base's ONBUILD triggers run first, in order
        body: list[ins.Instruction] = [*triggers, *self.stage.instructions]
        config = replace(config, onbuild=())
        # Step labels as BuildKit numbers them: an image FROM, then RUN/COPY/ADD/WORKDIR (every
        # ONBUILD trigger counts, whatever it is), "[3/5]" with the stage's name only when the
        # Dockerfile has several stages, the index padded to the width of the total.
        counted = (ins.Run, ins.Copy, ins.Workdir)
        total = (self.stage.base.kind not in ("stage", "scratch")) + len(triggers) + sum(
            isinstance(i, counted) for i in self.stage.instructions)
        prefix = "" if self.single else f"{self.stage.name or 'stage-' + str(self.stage.index)} "
        width = len(str(total))
        n = 0
        if self.stage.base.kind not in ("stage", "scratch", "context"):
            n += 1
            state = replace(state, vertex=replace(state.vertex, name=f"[{prefix}{n:>{width}}/{total}] FROM "
                                                  + state.vertex.name)) if state.vertex else state
        # Collected here and set once: adding to the config's tuple per step copied it every time.
        history = list(config.history)
        for i, inst in enumerate(body):
            if (i < len(triggers) or isinstance(inst, counted)) and not self._root_workdir(inst, config):
                n += 1
            label = f"[{prefix}{n:>{width}}/{total}]"
            state, config, step = self.dispatch(inst, state, config, label)
            if not isinstance(inst, ins.Onbuild):  # BuildKit records no history for ONBUILD
                history.append(step)
        return state, replace(config, history=tuple(history))

    def _root_workdir(self, inst: ins.Instruction, config: ImageConfig) -> bool:
        """``WORKDIR /``: counted in the total but, making no layer, given no step number (BuildKit)."""
        return isinstance(inst, ins.Workdir) and workdir_of(config.workdir, self.expand(inst.path, config, inst.loc)) == "/"

    # --- instructions ------------------------------------------------------------------------

    def env(self, config: ImageConfig) -> dict[str, str]:
        """What words expand with: the config's ENV, and ARG values declared after ENV of their name."""
        return {**config.env_map(), **self.overrides}

    def expand(self, word: str, config: ImageConfig, loc: ins.Location) -> str:
        try:
            return expand_word(word, self.env(config), self.escape)
        except ExpansionError as err:
            raise DockerfileError(err.message, loc.file, loc.start_line) from None

    def expand_body(self, text: str, config: ImageConfig, loc: ins.Location) -> str:
        try:
            return expand_heredoc(text, self.env(config))
        except ExpansionError as err:
            raise DockerfileError(err.message, loc.file, loc.start_line) from None

    def words(self, word: str, config: ImageConfig, loc: ins.Location) -> list[str]:
        try:
            return expand_words(word, self.env(config), self.escape)
        except ExpansionError as err:
            raise DockerfileError(err.message, loc.file, loc.start_line) from None

    def dispatch(
        self, inst: ins.Instruction, state: State, config: ImageConfig, label: str
    ) -> tuple[State, ImageConfig, History]:
        """One instruction applied: the new state and config, and the history entry it adds."""
        loc = inst.loc
        created = f"{type(inst).__name__.upper()}"
        empty = True
        if isinstance(inst, ins.Arg):
            for name, default in inst.pairs:
                if name in self.build_args:
                    value: str | None = self.build_args[name]
                elif default is not None:
                    value = self.expand(default, config, loc)
                else:
                    value = self.auto.get(name, self.global_args.get(name))
                if value is not None:  # a value given here enters the step environment (a bare ARG adds nothing)
                    self.overrides[name] = value
                self.args[name] = value if value is not None else self.args.get(name)
            created = "ARG " + " ".join(k if self.args[k] is None else f"{k}={self.args[k]}" for k, _ in inst.pairs)
        elif isinstance(inst, ins.Env):
            done = []
            for name, raw in inst.pairs:
                value = self.expand(raw, config, loc)
                config = replace(config, env=set_env(config.env, name, value))
                self.overrides.pop(name, None)
                state = state.with_env(name, value)
                done.append(f"{name}={value}")
            created = "ENV " + " ".join(done)
        elif isinstance(inst, ins.Workdir):
            path = workdir_of(config.workdir, self.expand(inst.path, config, loc))
            config = replace(config, workdir=path)
            state = state.with_cwd(path)
            if path != "/":  # BuildKit makes no layer for WORKDIR /
                state = state.file(((Mkdir(path, 0o755, make_parents=True, chown=config.user), None),),
                                   name=f"{label} {step_name(inst.original, self.env(config), self.escape) or 'WORKDIR ' + path}",
                                   ignore_cache=self.ignore_cache)
            created, empty = f"WORKDIR {path}", path == "/"
        elif isinstance(inst, ins.User):
            user = self.expand(inst.user, config, loc)
            config = replace(config, user=user)
            state = state.with_user(user)
            created = f"USER {user}"
        elif isinstance(inst, ins.Run):
            state = self.run_step(inst, state, config, label)
            created, empty = "RUN " + self.with_build_args(command(inst, config.shell), config), False
        elif isinstance(inst, ins.Copy):
            text = copy_name(inst, self.env(config), self.escape)
            state = copy(state, inst, lambda w: self.expand(w, config, loc), self.source_of, config.workdir,
                         f"{label} {text}", lambda text: self.expand_body(text, config, loc),
                         ignore_cache=self.ignore_cache, link_name=f"{label} LINK {text}")
            created, empty = self.copy_history(inst, config), False
        else:
            config, created = self.config_only(inst, config, loc)
        if not empty and state.vertex is not None:  # the step's own, new vertex: where it was written
            lines = f"{loc.start_line}" if loc.end_line == loc.start_line else f"{loc.start_line}-{loc.end_line}"
            state = replace(state, vertex=replace(state.vertex, location=f"{loc.file}:{lines}"))
        # BuildKit marks the commands that ran (RUN) or copied (COPY/ADD) with "# buildkit", not WORKDIR
        marked = not empty and isinstance(inst, (ins.Run, ins.Copy))
        step = state.vertex.name if not empty and state.vertex is not None else ""
        return state, config, History(f"{created} # buildkit" if marked else created, empty, step=step)

    def copy_history(self, inst: ins.Copy, config: ImageConfig) -> str:
        """``COPY [--parents] [--chown=…] [--chmod=…] <paths> <<heredocs> <dest>``, expanded, as BuildKit."""
        def x(word: str) -> str:
            return self.expand(word, config, inst.loc)

        flags = [*(["--parents"] if inst.parents else []), *([f"--chown={x(inst.chown)}"] if inst.chown else []),
                 *([f"--chmod={x(inst.chmod)}"] if inst.chmod else [])]
        paths = [x(s) for s in inst.sources if not s.startswith("<<")]
        docs = [s for s in inst.sources if s.startswith("<<")]
        return " ".join(["ADD" if inst.add else "COPY", *flags, *paths, *docs, x(inst.dest)])

    def run_step(self, inst: ins.Run, state: State, config: ImageConfig, label: str) -> State:
        args = command(inst, config.shell)
        env_state = state
        # ARGs reach RUN as environment, under ENV of the same name; the proxy ARGs and
        # SOURCE_DATE_EPOCH do so without being declared, as in BuildKit.
        implicit = {k: v for k, v in self.build_args.items() if k in IMPLICIT_ARGS}
        for k, v in implicit.items():
            if k not in config.env_map():
                env_state = env_state.with_env(k, v)
        for k, v in self.overrides.items():
            env_state = env_state.with_env(k, v)
        extra = mounts(inst.mounts, lambda w: self.expand(w, config, inst.loc),
                       lambda frm: self.source_of(frm), config.workdir)
        network = inst.network or self.inputs.network or "default"
        run = env_state.run(args, mounts=extra, network=network, security=inst.security or "sandbox",
                            name=f"{label} {run_name(inst, dict(env_state.env), self.escape)}",
                            ignore_cache=self.ignore_cache, extra_hosts=self.inputs.extra_hosts,
                            shm_size=self.inputs.shm_size, ulimits=self.inputs.ulimits)
        return replace(run, env=state.env)  # ARG values are not kept for later steps' config

    def with_build_args(self, args: tuple[str, ...], config: ImageConfig) -> str:
        """RUN's history text as BuildKit writes it: ``|N K=v …`` (the stage's ARGs, valued as the
        step environment has them) first."""
        env = self.env(config)
        pairs = [f"{k}={env.get(k, v or '')}" for k, v in self.args.items()]
        return " ".join([f"|{len(pairs)}", *pairs, *args] if pairs else args)

    def source_of(self, frm: str | None) -> State:
        """The state a ``--from`` (or the build context, for None) refers to."""
        if frm is None:
            return self.context_state
        if frm in self.contexts:
            return self.contexts[frm]
        index = int(frm) if frm.isdigit() else self.names.get(frm.lower())
        if index is not None and index in self.done:
            return self.done[index][0]
        ref = normalize_ref(frm)  # BuildKit: an implicit stage of its own, unnumbered
        return image(ref, self.platform, name=f"FROM {ref}")

    def config_only(self, inst: ins.Instruction, config: ImageConfig, loc: ins.Location) -> tuple[ImageConfig, str]:
        if isinstance(inst, ins.Label):
            labels = dict(config.labels)
            written = []
            for k, v in inst.pairs:
                key, value = self.expand(k, config, loc), self.expand(v, config, loc)
                labels[key] = value
                written.append(f"{key}={value}")
            return replace(config, labels=tuple(labels.items())), "LABEL " + " ".join(written)
        if isinstance(inst, ins.Cmd):
            args = inst.command.args if not inst.command.shell else (*(config.shell or ("/bin/sh", "-c")), *inst.command.args)
            self.cmd_set = True
            return replace(config, cmd=args, args_escaped=True), f"CMD {go_quoted(args)}"
        if isinstance(inst, ins.Entrypoint):
            args = inst.command.args if not inst.command.shell else (*(config.shell or ("/bin/sh", "-c")), *inst.command.args)
            # BuildKit drops the base's CMD, but not one this stage set before
            return (replace(config, entrypoint=args, cmd=config.cmd if self.cmd_set else None),
                    f"ENTRYPOINT {go_quoted(args)}")
        if isinstance(inst, ins.Shell):
            return replace(config, shell=inst.args), f"SHELL [{' '.join(inst.args)}]"
        if isinstance(inst, ins.Expose):
            ports = [p if "/" in p else f"{p}/tcp" for w in inst.ports for p in self.words(w, config, loc)]
            return (replace(config, exposed_ports=tuple(dict.fromkeys((*config.exposed_ports, *ports)))),
                    f"EXPOSE [{' '.join(sorted(dict.fromkeys(ports)))}]")
        if isinstance(inst, ins.Volume):
            paths = [self.expand(p, config, loc) for p in inst.paths]
            return replace(config, volumes=tuple(dict.fromkeys((*config.volumes, *paths)))), f"VOLUME [{' '.join(paths)}]"
        if isinstance(inst, ins.StopSignal):
            sig = self.expand(inst.signal, config, loc)
            return replace(config, stop_signal=sig), f"STOPSIGNAL {sig}"
        if isinstance(inst, ins.Maintainer):
            return replace(config, author=inst.name), f"MAINTAINER {inst.name}"
        if isinstance(inst, ins.Onbuild):
            return replace(config, onbuild=(*config.onbuild, inst.expression)), f"ONBUILD {inst.expression}"
        if isinstance(inst, ins.Healthcheck):
            return healthcheck(inst, config)
        raise DockerfileError(f"{type(inst).__name__.upper()} cannot appear here", loc.file, loc.start_line)


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def normalize_ref(ref: str) -> str:
    """``alpine`` → ``docker.io/library/alpine:latest``, as Docker names images."""
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{'library/' if not rest else ''}{name}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    return f"{name}@{digest}" if digest else name
