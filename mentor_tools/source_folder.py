"""nbgrader's source folder for the course: grading/source/ holds one link per assignment, and nothing else of ours.

nbgrader (its commands and the formgrader's assignment list) takes every folder in its source directory
for an assignment. With the repository root as that directory, the formgrader listed bench, tests, shared
and every other folder beside the six weeks; grading/source/ holds just the weeks.

Links rather than copies: a link is never stale, so a lesson edited after the last refresh is released as
it is now, and a notebook a mentor opens and edits from the formgrader is the lesson itself, with no copy
that a later refresh could overwrite. nbgrader reads a source folder through a link as it reads any folder.

nbgrader_config.py refreshes the folder whenever nbgrader reads it (every nbgrader command, every
formgrader page), and the mentors' commands refresh it before they start. Only the links this module made
(named after a course folder and leading to it) are ever created or removed: a folder, file or other link
a mentor puts in grading/source/ is left as it is.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from pathlib import Path

SOURCE_FOLDER = "grading/source"  # relative to the course folder, as nbgrader_config.py gives it to nbgrader


class SourceFolderError(RuntimeError):
    """grading/source/ cannot hold the course's links; the message says why and what to do."""


def assignments(course: Path) -> list[str]:
    """Return the assignment names: the week folders directly holding notebooks (the hackathons are not graded)."""
    return sorted(p.name for p in Path(course).iterdir()
                  if p.is_dir() and p.name.startswith("week") and any(p.glob("*.ipynb")))


def refresh_source_folder(course: Path) -> Path:
    """Link each assignment of ``course`` into grading/source/, drop the links of former ones; return the folder.

    Raises SourceFolderError, after linking every other assignment, when something not made here has an
    assignment's name in the folder; that thing is left untouched.
    """
    course = Path(course).resolve()
    folder = course / SOURCE_FOLDER
    if folder.exists() and not folder.is_dir():
        raise SourceFolderError(f"{folder} is a file, where nbgrader's source folder belongs. "
                                "Move it elsewhere; the folder is made again on the next nbgrader command.")
    folder.mkdir(parents=True, exist_ok=True)
    wanted = assignments(course)
    conflicts = []
    for name in wanted:
        link, target = folder / name, course / name
        try:
            _make_link(link, target)
        except FileExistsError:
            pass  # linked earlier (or just now by another nbgrader process), or a mentor's own: checked below
        if not _leads_to(link, target):
            conflicts.append(_conflict(link, target))
    for entry in folder.iterdir():
        if entry.name not in wanted and _leads_to(entry, course / entry.name):
            # One of ours, for a folder that is gone or no longer holds notebooks. Removing a link leaves
            # what it led to as it is.
            with contextlib.suppress(FileNotFoundError):  # another process removed it first
                entry.unlink()
    if conflicts:
        raise SourceFolderError("\n".join(conflicts))
    return folder


def _make_link(link: Path, target: Path) -> None:
    """Create ``link`` leading to the folder ``target``; raise FileExistsError if the name is taken."""
    try:
        # Relative, so the course folder can move or be copied elsewhere with its links still right.
        os.symlink(os.path.relpath(target, link.parent), link, target_is_directory=True)
    except FileExistsError:
        raise
    except OSError as err:
        if os.name != "nt":
            raise SourceFolderError(f"Cannot create the link {link} -> {target} ({err}). nbgrader's source "
                                    "folder needs a disk that supports symbolic links.") from err
        if os.path.lexists(link):
            raise FileExistsError(f"{link} exists") from err
        # Windows lets only administrators and Developer Mode create symbolic links; a junction needs neither.
        done = subprocess.run(["cmd", "/c", "mklink", "/J", str(link), str(target)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SourceFolderError(f"Cannot create the junction {link} -> {target}: "
                                    f"{(done.stdout + done.stderr).strip()}") from err


def _is_link(path: Path) -> bool:
    """Return True for a symbolic link, or for a Windows junction (which os.path.islink misses before 3.12)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISLNK(info.st_mode) or (os.name == "nt" and info.st_reparse_tag == stat.IO_REPARSE_TAG_MOUNT_POINT)


def _leads_to(link: Path, target: Path) -> bool:
    """Return True if ``link`` is a link leading to the folder ``target``, even one that no longer exists."""
    return _is_link(link) and os.path.realpath(link) == os.path.realpath(target)


def _conflict(path: Path, target: Path) -> str:
    """Return what is in the way of the link to ``target``, and what the mentor can do about it."""
    if _is_link(path):
        what = f"a link to {os.path.realpath(path)}, not to the course's {target.name}"
        fix = "Delete that link (what it leads to is not touched)"
    else:
        what = f"a {'folder' if path.is_dir() else 'file'} of your own, not a link to the course's {target.name}"
        fix = f"Move it out of {path.parent} (or rename it)"
    return (f"{path} is {what}, so nbgrader would take it for that assignment; it was left as it is. "
            f"{fix} and run the command again.")
