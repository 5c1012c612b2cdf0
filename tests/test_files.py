"""edgedigits.files: an output file is never left half-written."""

import pytest

from edgedigits.files import atomic_path, write_json_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_fragment(tmp_path):
    target = tmp_path / "report.json"
    write_json_atomic(target, {"version": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text('{"version": 2, "trunc')
            raise RuntimeError("killed half-way")
    assert target.read_text() == '{\n  "version": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_temporary_keeps_the_suffix_and_result_is_readable_by_others(tmp_path):
    target = tmp_path / "sub" / "model.keras"
    with atomic_path(target) as temporary:
        assert temporary.suffix == ".keras" and temporary.parent == target.parent
        temporary.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert target.stat().st_mode & 0o044  # not private like a bare mkstemp file
