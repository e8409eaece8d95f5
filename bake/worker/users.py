"""``USER`` / ``--chown`` specs → numeric ids, read from the image's own passwd and group files.

Those files are read through the root's resolver: an image whose ``/etc/passwd`` is a link to
``/etc/shadow`` reads its own (missing) shadow, never the host's.
"""

from __future__ import annotations

from bake.worker.errors import UserError
from bake.worker.inroot import Root


def resolve_user(rootfs: str, user: str, chown: bool = False) -> tuple[int, int, tuple[int, ...]]:
    """``name``, ``uid``, ``name:group`` or ``uid:gid`` → (uid, gid, the process's group list).

    As BuildKit: a user without a group gets its passwd entry's primary group; an id that passwd
    does not know gets group 0 for a process but its own id as group for ``--chown`` (``chown``).
    A file op (``chown``) given a name that passwd or group does not know uses 0 where a process
    fails (BuildKit v0.32.2: ``COPY --chown=nobody`` on an image without nobody writes 0:0).
    The group list is the primary group, then the groups /etc/group lists the user in."""
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    with Root(rootfs) as root:
        passwd = _table(root, "etc/passwd")
        groups = _table(root, "etc/group")
    if name.isdigit():
        uid = int(name)
        entry = next((e for e in passwd if e[2] == name), None)
    else:
        entry = next((e for e in passwd if e[0] == name), None)
        if entry is None and not chown:
            raise UserError(f"unable to find user {name}: no matching entries in passwd file")
        uid = int(entry[2]) if entry is not None else 0  # a file op owns by an unknown name as 0 (recorded)
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((e for e in groups if e[0] == group), None)
            if g is None and not chown:
                raise UserError(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2]) if g is not None else uid if name.isdigit() else int(entry[3]) if entry is not None else 0
    else:
        gid = int(entry[3]) if entry is not None else (uid if chown else 0)
    members = () if group or entry is None else sorted(
        {int(e[2]) for e in groups if entry[0] in e[3].split(",") and int(e[2]) != gid})
    return uid, gid, (gid, *members)


def _table(root: Root, path: str) -> list[list[str]]:
    """The well-formed lines of a passwd/group file (name:x:id:id-or-members…); others skipped."""
    data = root.read(path)
    if data is None:
        return []
    rows = []
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if line.startswith("#") or len(fields) < 4 or not fields[2].isdigit():
            continue
        if path.endswith("passwd") and not fields[3].isdigit():
            continue
        rows.append(fields)
    return rows
