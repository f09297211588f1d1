"""Get the official FIUBench release: a Hugging Face hub snapshot, or a local copy.

    fiubench data download --out data/fiubench                 # gray311/FIUBench
    fiubench data download --repo OWNER/NAME --revision R --out DIR
    fiubench data download --repo /path/to/a/copy --out DIR    # no network

The release is the dataset repository ``gray311/FIUBench``: ``full.json``,
``split.json``, ``prompt.json`` and the faces as ``SFHQ.zip`` (the authors'
instructions: clone, unzip, move everything into ``dataset/``). Here the snapshot
(``huggingface_hub.snapshot_download``) or the copy of a local folder goes into a
temporary sibling of ``--out``, every ``*.zip`` is extracted beside itself, and the
folder is renamed to ``--out`` only when all of that succeeded: an interrupted or
offline download leaves nothing. Then the dataset is validated (``validate_dataset``);
a release that does not validate is kept (it is a faithful copy) and the error says
what is wrong with it.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from fiubench.errors import DataError
from fiubench.utils.io import atomic_dir

DEFAULT_REPO = "gray311/FIUBench"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _is_local(source: str) -> bool:
    return Path(source).expanduser().exists() or source.startswith((".", "/", "~")) or not _REPO_ID.match(source)


def _snapshot(repo: str, revision: str | None, dest: Path) -> None:
    import huggingface_hub
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo}" + (f" (revision {revision})" if revision else "")
    try:
        huggingface_hub.snapshot_download(repo_id=repo, repo_type="dataset", revision=revision, local_dir=dest)
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise DataError(f"--repo {repo}: no accessible dataset repository of that name on the Hugging Face hub "
                        f"({type(e).__name__})") from None
    except RevisionNotFoundError:
        raise DataError(f"--revision {revision}: no such revision of {repo}") from None
    except LocalEntryNotFoundError as e:
        raise DataError(
            f"cannot download {where}: the Hugging Face hub is not reachable (offline, or HF_HUB_OFFLINE=1) and "
            f"no cached copy exists ({str(e).splitlines()[0]}). Download it on a machine with internet and pass "
            "the folder: fiubench data download --repo PATH --out DIR"
        ) from None
    except HfHubHTTPError as e:
        raise DataError(f"cannot download {where}: {e}") from None


def _extract_archives(root: Path) -> list[Path]:
    """Extract every ``*.zip`` under ``root`` beside itself (members may not leave that folder)."""
    done = []
    for z in sorted(root.rglob("*.zip")):
        if ".cache" in z.relative_to(root).parts:
            continue
        dest = z.parent.resolve()
        try:
            with zipfile.ZipFile(z) as zf:
                for m in zf.namelist():
                    target = (dest / m).resolve()
                    if not target.is_relative_to(dest):
                        raise DataError(f"{z.name}: member {m!r} would be written outside {dest}")
                zf.extractall(dest)
        except zipfile.BadZipFile as e:
            raise DataError(f"{z.name}: not a valid zip archive ({e})") from None
        done.append(z)
    return done


def dataset_root(folder: Path) -> Path:
    """The folder holding ``full.json``: ``folder`` itself or its only sub-folder that has one."""
    if (folder / "full.json").is_file():
        return folder
    found = sorted(p.parent for p in folder.rglob("full.json") if ".cache" not in p.relative_to(folder).parts)
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f"{folder}: no full.json in the downloaded files")
    raise DataError(f"{folder}: several full.json files ({', '.join(str(p) for p in found)}); pass one folder")


def download_release(
    out: str | Path, repo: str = DEFAULT_REPO, revision: str | None = None, overwrite: bool = False
) -> Path:
    """Snapshot ``repo`` (a hub dataset id, or a local folder) into ``out``; returns the dataset folder."""
    out = Path(out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out} already exists (pass --overwrite to replace it)")
    local = _is_local(repo)
    if local:
        src = Path(repo).expanduser()
        if not src.is_dir():
            raise DataError(
                f"--repo {repo}: neither a local folder nor a hub dataset id OWNER/NAME (e.g. {DEFAULT_REPO})"
            )
        if revision is not None:
            raise DataError("--revision applies to a hub repository, not to a local folder")
    with atomic_dir(out, overwrite=overwrite) as tmp:
        if local:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
        else:
            _snapshot(repo, revision, tmp)
        _extract_archives(tmp)
        dataset_root(tmp)  # fail now, before the rename, when there is no dataset at all
    return dataset_root(out)
