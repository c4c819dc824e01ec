"""flaskops.stack.path_differs: whether a path on the host is not as wanted."""

import hashlib


def path_differs(wanted, paths):
    """True when the host's PATHS (from flaskops.stack.paths_state) miss WANTED.

    WANTED names a path (key "path", or "dest" as file tasks do) and the
    state a task would give it: "state" (file, directory, link or absent;
    file by default), and any of "owner", "group", "mode", "src" (a
    link's target) and "content" (a file's text) or "checksum" (its SHA-1 or
    SHA-256, as the probe reported).
    A path the probe did not read differs: its task runs.
    """
    path = wanted.get("path") or wanted.get("dest")
    have = (paths or {}).get(path)
    if have is None:
        return True
    state = wanted.get("state", "file")
    if state == "absent":
        return bool(have["exists"])
    if not have["exists"] or have["type"] != state:
        return True
    for key in ("owner", "group"):
        if wanted.get(key) is not None and str(wanted[key]) != have[key]:
            return True
    if wanted.get("mode") is not None and "%04o" % int(str(wanted["mode"]), 8) != have["mode"]:
        return True
    if state == "link" and wanted.get("src") is not None and wanted["src"] != have["target"]:
        return True
    if state == "file":
        checksum = wanted.get("checksum")
        if checksum is None and wanted.get("content") is not None:
            # The probe's algorithm, told by the length of what it reported.
            algorithm = hashlib.sha256 if len(have["checksum"] or "") == 64 else hashlib.sha1
            checksum = algorithm(str(wanted["content"]).encode("utf-8")).hexdigest()
        if checksum is not None and checksum != have["checksum"]:
            return True
    return False


class FilterModule:
    """Filters that compare what a host has with what a task would make."""

    def filters(self):
        return {"path_differs": path_differs}
