"""bench.util.replace_section: a rerun benchmark's section stays where it was in bench/RESULTS.md."""
from bench.util import replace_section


def test_section_replaced_in_place_and_appended_when_new(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n\n## A\n\nold a\n\n## B\n\nnotes on A's figures\n")
    replace_section(out, "## A", "## A\n\nnew a\n")
    assert out.read_text() == "# Results\n\n## A\n\nnew a\n\n## B\n\nnotes on A's figures\n"
    replace_section(out, "## B", "## B\n\nnew b\n")
    assert out.read_text() == "# Results\n\n## A\n\nnew a\n\n## B\n\nnew b\n"
    replace_section(out, "## C", "## C\n\nc\n")
    assert out.read_text().endswith("## B\n\nnew b\n\n## C\n\nc\n")
