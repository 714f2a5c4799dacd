"""dataset_scripts.meld_download: the MELD CSVs fetched from a local file:// "repository" (never the network)."""

from __future__ import annotations

import urllib.request

import pytest

from dataset_scripts.files import is_temporary
from dataset_scripts.meld_download import (
    MELD_BASE_URL,
    MeldDownloadError,
    check_meld_csv,
    download_allowed,
    download_meld_csvs,
    has_meld_csvs,
    has_valid_meld_csvs,
    meld_csv_urls,
)
from tests.dataset_fixtures import make_meld_tree

NAMES = ("train_sent_emo.csv", "dev_sent_emo.csv", "test_sent_emo.csv")


@pytest.fixture
def mirror(tmp_path):
    """A folder laid out like MELD's data/MELD/, and its file:// URL."""
    folder = tmp_path / "mirror"
    make_meld_tree(folder, clips=False)
    return folder, folder.as_uri() + "/"


def _leftovers(folder):
    return sorted(path.name for path in folder.iterdir() if is_temporary(path))


def test_urls_are_the_three_official_csvs_of_the_meld_repository():
    urls = meld_csv_urls()
    assert sorted(urls) == sorted(NAMES)
    assert all(url == MELD_BASE_URL + name for name, url in urls.items())
    assert MELD_BASE_URL.startswith("https://raw.githubusercontent.com/declare-lab/MELD/")


def test_download_copies_verified_files_atomically(mirror, tmp_path):
    source, url = mirror
    target = download_meld_csvs(tmp_path / "cache", base_url=url, timeout=5)
    assert has_meld_csvs(target)
    for name in NAMES:
        assert (target / name).read_bytes() == (source / name).read_bytes()
        assert check_meld_csv(target / name) > 0
    assert _leftovers(target) == []


def test_a_file_that_is_not_a_meld_csv_is_refused_and_nothing_is_left(mirror, tmp_path):
    source, url = mirror
    (source / "dev_sent_emo.csv").write_text("<html><body>rate limited</body></html>\n")
    target = tmp_path / "cache"
    with pytest.raises(MeldDownloadError, match=r"dev_sent_emo\.csv.*header lacks the MELD columns"):
        download_meld_csvs(target, base_url=url, timeout=5)
    assert not (target / "dev_sent_emo.csv").exists()
    assert _leftovers(target) == []


def test_a_header_without_rows_is_refused(mirror, tmp_path):
    source, url = mirror
    header = (source / "test_sent_emo.csv").read_text(encoding="utf-8").splitlines()[0]
    (source / "test_sent_emo.csv").write_text(header + "\n", encoding="utf-8")
    with pytest.raises(MeldDownloadError, match="no utterance rows"):
        download_meld_csvs(tmp_path / "cache", base_url=url, timeout=5)


def test_an_unreachable_url_names_the_url(tmp_path):
    url = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(MeldDownloadError, match=r"could not fetch MELD's train_sent_emo\.csv from file://"):
        download_meld_csvs(tmp_path / "cache", base_url=url, timeout=5)
    assert _leftovers(tmp_path / "cache") == []


def test_valid_files_are_kept_and_a_damaged_one_is_fetched_again(mirror, tmp_path, monkeypatch):
    source, url = mirror
    target = download_meld_csvs(tmp_path / "cache", base_url=url, timeout=5)
    assert has_valid_meld_csvs(target)
    (target / "train_sent_emo.csv").write_bytes(b"truncated")
    assert has_meld_csvs(target) and not has_valid_meld_csvs(target)
    fetched = []
    real_urlopen = urllib.request.urlopen

    def recording_urlopen(address, timeout=None):
        fetched.append((address, timeout))
        return real_urlopen(address, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)
    download_meld_csvs(target, base_url=url, timeout=7)
    assert fetched == [(url + "train_sent_emo.csv", 7)]
    assert (target / "train_sent_emo.csv").read_bytes() == (source / "train_sent_emo.csv").read_bytes()


@pytest.mark.parametrize(
    ("variables", "allowed"),
    [({}, True), ({"HF_DATASETS_OFFLINE": "1"}, False), ({"EMOJE_OFFLINE": "true"}, False), ({"HF_DATASETS_OFFLINE": "0"}, True)],
)
def test_offline_variables_forbid_the_download(monkeypatch, variables, allowed):
    for name in ("HF_DATASETS_OFFLINE", "EMOJE_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert download_allowed() is allowed
