"""Downloads resume and are verified; archives unpack only inside their folder (loopback only)."""
import errno
import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from muzo_lib.data import archives, fetch
from muzo_lib.data.archives import archive_entries, extract_archive
from muzo_lib.data.fetch import FetchError, download
from tests.data_sources import loopback_server, write_tar, write_zip

BODY = bytes(range(256)) * 4000  # 1 MB, every byte position distinguishable
SHA1 = hashlib.sha1(BODY).hexdigest()


def test_a_download_is_verified_and_only_then_gets_its_name(tmp_path):
    with loopback_server({"/a.zip": BODY}) as server:
        out = download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, progress=False)
    assert out.read_bytes() == BODY and not (tmp_path / "a.zip.part").exists()


def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path):
    with loopback_server({"/a.zip": BODY}, drops={"/a.zip": [300_000]}) as server:
        download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, progress=False)
    assert (tmp_path / "a.zip").read_bytes() == BODY
    assert server.requests == [("/a.zip", None), ("/a.zip", "bytes=300000-")]


def test_an_interrupted_download_resumes_on_the_next_call(tmp_path):
    with loopback_server({"/a.zip": BODY}, drops={"/a.zip": [250_000]}) as server:
        with pytest.raises(FetchError, match="run the same command again to resume") as err:
            download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, retries=0, progress=False)
        assert "\n" not in str(err.value)
        assert (tmp_path / "a.zip.part").stat().st_size == 250_000 and not (tmp_path / "a.zip").exists()
        download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, retries=0, progress=False)
    assert (tmp_path / "a.zip").read_bytes() == BODY
    assert server.requests[-1] == ("/a.zip", "bytes=250000-")


def test_a_connection_that_keeps_dropping_gives_up_and_keeps_what_arrived(tmp_path):
    with loopback_server({"/a.zip": BODY}, drops={"/a.zip": [100_000] * 3}) as server:
        with pytest.raises(FetchError, match="stopped at"):
            download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, retries=2, progress=False)
    assert (tmp_path / "a.zip.part").stat().st_size == 300_000 and len(server.requests) == 3


def test_a_server_that_ignores_range_starts_the_file_again(tmp_path):
    (tmp_path / "a.zip.part").write_bytes(b"x" * 1000)   # not even a prefix of the file
    with loopback_server({"/a.zip": BODY}, ignore_range=True) as server:
        download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, progress=False)
    assert (tmp_path / "a.zip").read_bytes() == BODY


def test_a_complete_part_file_is_verified_without_downloading_again(tmp_path):
    (tmp_path / "a.zip.part").write_bytes(BODY)
    with loopback_server({"/a.zip": BODY}) as server:
        download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, progress=False)
    assert server.requests == [("/a.zip", f"bytes={len(BODY)}-")]          # answered 416: nothing left
    assert (tmp_path / "a.zip").read_bytes() == BODY


def test_a_wrong_checksum_is_an_error_and_the_file_is_set_aside(tmp_path):
    truncated = BODY[:-10]                                                # a short file served as whole
    with loopback_server({"/a.zip": truncated}) as server:
        with pytest.raises(FetchError, match=f"expected {SHA1}.*kept as .*a.zip.bad"):
            download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, progress=False)
    assert not (tmp_path / "a.zip").exists() and (tmp_path / "a.zip.bad").read_bytes() == truncated


def test_http_errors_and_dead_hosts_are_one_line(tmp_path):
    with loopback_server({}) as server:
        with pytest.raises(FetchError, match="404"):
            download(server.url("/missing.zip"), tmp_path / "m.zip", "sha1", SHA1, progress=False)
        port = server.server_address[1]
    with pytest.raises(FetchError, match="cannot connect"):
        download(f"http://127.0.0.1:{port}/a.zip", tmp_path / "a.zip", "sha1", SHA1, retries=0, progress=False)


def test_a_full_disk_while_downloading_is_one_line_and_keeps_the_part_file(tmp_path, monkeypatch):
    real_open = open

    class FullDisk:
        def __init__(self, *a, **k):
            self.f = real_open(*a, **k)

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(fetch, "open", FullDisk, raising=False)
    with loopback_server({"/a.zip": BODY}) as server:
        with pytest.raises(FetchError, match="disk full while downloading"):
            download(server.url("/a.zip"), tmp_path / "a.zip", "sha1", SHA1, progress=False)


# ---------------------------------------------------------------- archives

def test_zip_and_tar_gz_unpack_their_files(tmp_path):
    members = {"top/a/x.txt": b"x", "top/b.txt": b"bb"}
    for archive in (write_zip(tmp_path / "t.zip", members), write_tar(tmp_path / "t.tar.gz", members)):
        out = tmp_path / archive.name.replace(".", "_")
        written = extract_archive(archive, out, progress=False)
        assert sorted(p.relative_to(out).as_posix() for p in written) == ["top/a/x.txt", "top/b.txt"]
        assert (out / "top" / "b.txt").read_bytes() == b"bb"


@pytest.mark.parametrize("name", ["../evil.txt", "top/../../evil.txt", "/etc/evil.txt", "C:/evil.txt", "..\\evil.txt"])
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_entries_that_would_land_outside_are_refused_before_anything_is_written(tmp_path, name, kind):
    members = {"ok.txt": b"fine", name: b"evil"}
    archive = (write_zip if kind == "zip" else write_tar)(tmp_path / f"bad.{kind}", members)
    out = tmp_path / "out"
    with pytest.raises(FetchError, match="would land outside the target folder"):
        extract_archive(archive, out, progress=False)
    assert not out.exists() and not (tmp_path / "evil.txt").exists()


def _tar_with(path, info: tarfile.TarInfo):
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        tf.addfile(info)
    return path


@pytest.mark.parametrize("kind, what", [(tarfile.SYMTYPE, "a symlink"), (tarfile.LNKTYPE, "a hard link"),
                                        (tarfile.CHRTYPE, "a device"), (tarfile.FIFOTYPE, "a fifo")])
def test_links_devices_and_fifos_in_a_tar_are_refused(tmp_path, kind, what):
    info = tarfile.TarInfo("genres/link")
    info.type, info.linkname = kind, "/etc/passwd"
    archive = _tar_with(tmp_path / "bad.tar.gz", info)
    with pytest.raises(FetchError, match=f"'genres/link' is {what}"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_symlink_in_a_zip_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", b"ok")
        link = zipfile.ZipInfo("genres/link")
        link.external_attr = (0o120777 << 16)      # how zip records a symlink (S_IFLNK)
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(FetchError, match="'genres/link' is a symlink"):
        extract_archive(archive, tmp_path / "out", progress=False)


def test_empty_damaged_and_foreign_archives_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(FetchError, match="holds no files"):
        archive_entries(empty)
    with pytest.raises(FetchError, match="holds no files"):
        archive_entries(write_tar(tmp_path / "empty.tar.gz", {}))
    text = tmp_path / "notes.zip"
    text.write_text("not an archive")
    with pytest.raises(FetchError, match="not a zip or tar archive"):
        archive_entries(text)
    good = write_tar(tmp_path / "g.tar.gz", {f"f{i}.bin": os.urandom(20_000) for i in range(5)})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FetchError, match="damaged archive") as err:
        extract_archive(cut, tmp_path / "out", progress=False)
    assert "\n" not in str(err.value)
    zgood = write_zip(tmp_path / "g.zip", {"f.bin": b"a" * 50_000})
    data = bytearray(zgood.read_bytes())
    data[100:110] = b"\0" * 10                          # inside the compressed member: a CRC error
    bad = tmp_path / "crc.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(FetchError, match="damaged archive"):
        extract_archive(bad, tmp_path / "out2", progress=False)


def test_a_full_disk_while_extracting_is_one_line(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archives.shutil, "copyfileobj", full)
    archive = write_zip(tmp_path / "a.zip", {"a/b.txt": b"x" * 3_000_000})
    with pytest.raises(FetchError, match=r"disk full while extracting a.zip .*about 3 MB"):
        extract_archive(archive, tmp_path / "out", progress=False)
