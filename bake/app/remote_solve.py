"""One target on one platform, solved on one BuildKit node: its LLB definition, a session for what
the daemon asks back (secrets, ssh agents, registry credentials, the export's bytes), its
progress mapped to bake's events, and its output delivered where the embedded worker puts it.

Image outputs carry the image config bake's frontend made (``containerimage.config``), the same
document the embedded worker writes, less the layers BuildKit adds itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from bake._record import record
from bake.app.outputs import Root, TargetResult
from bake.buildkit import NotSupportedRemote
from bake.errors import BakeError, StepError
from bake.model import ExportEntry, Plan, SecretEntry, SSHEntry, Target, platform_dir
from bake.progress.events import Built, Noted, Sink

if TYPE_CHECKING:
    from bake.buildkit.control import Control
    from bake.buildkit.exporters import Export
    from bake.buildkit.proto import control_pb2 as api
    from bake.buildkit.session.filesync import Receiver, Tree
    from bake.worker.secrets import Secrets
    from bake.worker.sshagents import SSHAgents


@record
class Job:
    """What one solve needs: the node, its context session, the target and where outputs go."""

    control: Control
    contexts: str  # the id of the node's session serving local contexts
    trees: dict[str, Tree]
    plan: Plan
    cwd: str
    env: dict[str, str]
    label: str
    root: Root
    per_platform: bool  # the target builds for several platforms: local outputs go in subdirectories
    driver: str = "remote"  # "docker": image outputs go to the engine's image store
    export: bool = True  # False: build only (--publish after-all's first pass)
    attests: tuple[tuple[str, str], ...] = ()  # attest:<type> frontend attributes (bake.buildkit.attests)
    pins: Mapping[tuple[str, str], str] | None = None  # (image ref, platform) → digest its source is pinned to


class Sources:
    """Where the session's answers come from: the embedded worker's own secret and ssh-agent
    resolvers (buildx's rules), and the Docker config's registry credentials."""

    def __init__(self, secrets: Secrets, agents: SSHAgents, env: Mapping[str, str]) -> None:
        self.secrets = secrets
        self.agents = agents
        self.env = env

    @classmethod
    @contextlib.contextmanager
    def open(cls, plan: Plan, env: Mapping[str, str], cwd: str) -> Iterator[Sources]:
        from bake.worker.secrets import Secrets
        from bake.worker.sshagents import SSHAgents

        found: list[SecretEntry] = []
        ssh: list[SSHEntry] = []
        for t in plan.targets.values():
            found.extend(s for s in t.secret or () if s.id not in {x.id for x in found})
            ssh.extend(s for s in t.ssh or () if s.id not in {x.id for x in ssh})
        s = Secrets(found, env, cwd)
        a = SSHAgents(ssh, env, cwd)
        try:
            yield cls(s, a, env)
        finally:
            a.close()
            s.close()

    def credentials(self, host: str) -> tuple[str, str] | None:
        """(user, secret) for ``host`` from the Docker config; an identity token goes as the
        secret with no user, as BuildKit's auth provider answers."""
        from bake.registry.auth import DockerConfigCredentials, config_path

        found = DockerConfigCredentials(config_path(self.env))(host)
        if found is not None and found[0] == "<token>":
            return "", found[1]
        return found


def image_config(root: Root, t: Target, env: Mapping[str, str]) -> tuple[bytes, int | None]:
    """The image config document of ``root`` as the embedded worker makes it (before its layers),
    and SOURCE_DATE_EPOCH when set (it dates the image)."""
    from bake.content import oci
    from bake.exporter.image import config_document

    text = env.get("SOURCE_DATE_EPOCH") or (t.args or {}).get("SOURCE_DATE_EPOCH") or ""
    epoch = int(text) if text.isdigit() else None
    labels = {k: v for k, v in (t.labels or {}).items() if v is not None}
    doc = config_document(root.config, oci.Platform.parse(root.platform), [],
                          float(epoch) if epoch is not None else time.time(), labels)
    return doc.raw, epoch


def exports_of(job: Job) -> list[tuple[ExportEntry, Export]]:
    """The target's outputs and the exporter of each (``cacheonly`` has none), in output order."""
    from bake.buildkit.exporters import IMAGE_TYPES, exporter

    t = job.plan.targets[job.root.target]
    out: list[tuple[ExportEntry, Export]] = []
    for entry in t.output or () if job.export else ():
        config, epoch = image_config(job.root, t, job.env) if entry.type in IMAGE_TYPES else (None, None)
        dest = entry.dest
        if dest and dest != "-" and not os.path.isabs(dest):
            dest = os.path.join(job.cwd, dest)
        if entry.type == "local" and job.per_platform:
            dest = os.path.join(dest, platform_dir(job.root.platform))
        elif entry.type in ("tar", "oci") and job.per_platform:  # joined once every platform is built
            from bake.app.remote_merge import part

            dest = part(dest, job.root.platform)
        if job.driver == "docker":
            from bake.buildkit.drivers.docker import engine_export

            e = engine_export(entry.type, dest, dict(entry.attrs), tuple(t.tags or ()), config, epoch)
        else:
            e = exporter(entry.type, dest, dict(entry.attrs), tuple(t.tags or ()), config, epoch,
                         by_digest=job.per_platform)
        if e is not None:
            out.append((entry, e))
    return out


async def solve(job: Job, sources: Sources, sink: Sink) -> TargetResult:
    """Solve one target on one platform; its failure is its result, never its siblings'."""
    import anyio

    from bake.buildkit import llb
    from bake.buildkit.control import SolveFailed
    from bake.buildkit.exporters import CONFIG_ATTR, response_metadata
    from bake.buildkit.progress import StatusMapper
    from bake.buildkit.proto import control_pb2 as api
    from bake.buildkit.session import Session
    from bake.buildkit.session.filesync import Tree

    root, control = job.root, job.control
    outputs: tuple[str, ...] = ()
    metadata: dict[str, object] | None = None
    error: BakeError | None = None
    mapper = None
    try:
        if root.vertex is None:
            raise NotSupportedRemote(f"target {root.target}: an empty result (FROM scratch with nothing added)")
        m = llb.marshal(root.vertex, job.contexts, pull=bool(job.plan.targets[root.target].pull), pins=job.pins)
        for d in m.locals:
            job.trees[d.name] = Tree(os.path.join(job.cwd, d.path), d.excludes)
        mapper = StatusMapper(job.label, m.vertices)
        exports = exports_of(job)
        ref = secrets.token_hex(13)
        request = api.SolveRequest(Ref=ref, Definition=m.definition)
        _cache(request, job.plan.targets[root.target])
        request.FrontendAttrs.update(dict(job.attests))  # BuildKit's solver attaches them itself
        with tempfile.TemporaryDirectory(prefix="bake-export-") as tmp:
            received = [os.path.join(tmp, f"out-{i}.tar") for i in range(len(exports))]
            receivers: dict[int, Receiver] = {}
            for i, (_, export) in enumerate(exports):
                request.Exporters.add(Type=export.type, Attrs=dict(export.attrs))
                if export.receive:  # the daemon names the exporter by its position in the request
                    receivers[i] = _writer(received[i])
            if len(exports) == 1:  # and as the one exporter of BuildKit before v0.13 (newer daemons read Exporters)
                request.ExporterDeprecated = exports[0][1].type
                request.ExporterAttrsDeprecated.update(dict(exports[0][1].attrs))
            from bake.app.remote import lister

            # the contexts again: BuildKit before v0.10 (dockerd 20.10's) reads local sources from the
            # solve's own session, not from the one the source names
            async with Session(control, trees=job.trees, lister=lister, receiver=receivers, name=f"bake-{root.target}",
                               secrets=sources.secrets.value,
                               agents=sources.agents.agent, credentials=sources.credentials) as session:
                request.Session = session.id
                async with anyio.create_task_group() as tg:
                    async def status() -> None:
                        async for update in control.status(ref):
                            for event in mapper.events(update):
                                sink(event)
                    tg.start_soon(status)
                    failure: BakeError | None = None  # raised below, not inside the task group (never a group)
                    try:
                        if exports and exports[0][1].type == "moby":  # the docker driver's image store
                            from bake.buildkit.drivers.docker import solve_into_engine

                            response = await solve_into_engine(control, request, exports[0][1])
                        elif job.attests and (config := _config(exports)) is not None:
                            # BuildKit keys the attestation by the platform of the result's own image
                            # config (without one: the daemon's), so the config goes with the result
                            response = await control.solve_returning(request, {CONFIG_ATTR: config.encode()})
                        else:
                            response = await control.solve(request)
                    except BakeError as err:
                        failure = err
                    finally:  # the status stream ends with the solve: give it a little time, not forever
                        tg.cancel_scope.deadline = anyio.current_time() + 10
                if failure is not None:
                    raise failure
            written = []
            for i, (out, export) in enumerate(exports):
                spelled = f"type={out.type}" + (f",dest={out.dest}" if out.dest else "")
                if export.receive and not os.path.isfile(received[i]):  # the daemon never called the file send
                    from bake.buildkit import BuilderError

                    raise BuilderError(f"target {root.target}: the daemon sent nothing for the output {spelled}",
                                       control.builder, control.node)
                if export.receive == "load":
                    loaded = await anyio.to_thread.run_sync(_load, received[i], job.env)
                    sink(Noted(f"{job.label}: loaded into the Docker engine: {', '.join(loaded)}", time.time()))
                elif export.receive:
                    await anyio.to_thread.run_sync(_deliver, export.receive, received[i], export.dest)
                written.append(spelled)
                where = f" to {out.dest}" if out.dest else ""
                sink(Noted(f"{job.label}: exported type={out.type}{where}", time.time()))
            outputs = tuple(written)
            # buildx's reference to the build: builder/node/solve ref (the daemon's build history names it)
            metadata = {"buildx.build.ref": f"{control.builder}/{control.node}/{ref}",
                        **(response_metadata(dict(response.ExporterResponse)) if exports else {})}
    except SolveFailed as err:
        error = mapper.error(err.reason) if mapper is not None else StepError(job.label, err.reason, (job.label,))
    except BakeError as err:
        error = err
    if job.export or error is not None:  # a build-only pass that succeeded is announced by the pass that exports
        sink(Built(job.label, time.time(), "" if error is None else str(error)))
    return TargetResult(root.target, (root.platform,), (None,), outputs, error,
                        mapper.executed if mapper else 0, mapper.cached if mapper else 0, metadata)


def _config(exports: list[tuple[ExportEntry, Export]]) -> str | None:
    """The image config an image exporter of the solve carries (one for all: one root)."""
    from bake.buildkit.exporters import CONFIG_ATTR

    return next((dict(e.attrs)[CONFIG_ATTR] for _, e in exports if CONFIG_ATTR in dict(e.attrs)), None)


def _writer(path: str) -> Receiver:
    def opened() -> BinaryIO:
        return open(path, "wb")  # receive_file closes it

    return opened


def _load(received: str, env: Mapping[str, str]) -> list[str]:
    """``--load`` on a BuildKit builder: the docker tarball it sent, into the engine at DOCKER_HOST
    (else the current Docker context), as buildx loads it for its container drivers."""
    from bake.docker.client import load_file
    from bake.docker.context import engine

    return load_file(received, engine(None, env)) or ["an untagged image"]


CACHE_TYPES = ("registry", "inline")  # cache-from takes registry; cache-to registry and inline


def _cache(request: api.SolveRequest, t: Target) -> None:
    """The target's cache-from/cache-to as BuildKit's cache importers and exporters take them: the
    daemon reads and writes a registry cache itself (credentials through the session), and an
    inline cache goes into the exported image's config."""
    for entry in t.cache_from or ():
        request.Cache.Imports.add(Type=entry.type, Attrs=dict(entry.attrs))
    for entry in t.cache_to or ():
        request.Cache.Exports.add(Type=entry.type, Attrs=dict(entry.attrs))


def _deliver(kind: str, received: str, dest: str) -> None:
    """``file``: the bytes moved into place; ``unpack``: the daemon's tarball unpacked into ``dest``
    by the worker's in-root writer (every entry resolved inside ``dest``, links never followed out of
    it), owned by whoever runs bake, as BuildKit's local exporter writes files."""
    if kind == "file":
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        os.replace(received, dest)
        return
    from bake.worker.inroot import Root
    from bake.worker.writes import extract

    os.makedirs(dest, exist_ok=True)
    uid, gid = os.geteuid(), os.getegid()
    with tarfile.open(received) as tf, Root(dest) as root:
        for m in tf.getmembers():  # loaded once: extract() walks these, with the owner set here
            m.uid, m.gid = uid, gid
        extract(tf, root)
