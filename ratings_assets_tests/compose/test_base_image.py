"""The local base image is made from the Debian mirror apt already uses, whatever form its sources take."""

from ratings_assets.compose.base_image import DEFAULT_MIRROR, debian_mirror


def test_the_mirror_comes_from_deb822_sources_skipping_security_and_third_parties(tmp_path):
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "cloud.list").write_text("deb https://packages.example.com/apt cloud-sdk-bookworm main\n")
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example.org/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n")
    assert debian_mirror((tmp_path / "sources.list", sources)) == "http://mirror.example.org/debian"


def test_the_mirror_comes_from_a_one_line_sources_list(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("# comment\ndeb [arch=amd64] http://ftp.example.net/debian bookworm main\n")
    assert debian_mirror((listing, tmp_path / "none.d")) == "http://ftp.example.net/debian"


def test_without_a_debian_source_the_default_mirror_is_used(tmp_path):
    assert debian_mirror((tmp_path / "sources.list", tmp_path / "none.d")) == DEFAULT_MIRROR
