"""prosem_core.auth: HMAC-SHA256 tags over identity fields + payload."""
import pytest

from prosem_core import auth

KEY = b"shared-secret"
ID = auth.LayerIdentity("robot1", 7, 42, 1, 4, "00112233aabbccdd")


def test_sign_verify_roundtrip():
    tag = auth.sign(KEY, ID, b"payload")
    assert len(tag) == auth.TAG_BYTES
    assert auth.verify(KEY, ID, b"payload", tag)


@pytest.mark.parametrize(
    "identity, payload",
    [
        (ID, b"payloaX"),  # payload changed
        (auth.LayerIdentity("robot2", 7, 42, 1, 4, ID.codebook_id), b"payload"),  # moved to another stream
        (auth.LayerIdentity("robot1", 7, 43, 1, 4, ID.codebook_id), b"payload"),  # replayed into another frame
        (auth.LayerIdentity("robot1", 7, 42, 2, 4, ID.codebook_id), b"payload"),  # another layer position
        (auth.LayerIdentity("robot1", 8, 42, 1, 4, ID.codebook_id), b"payload"),  # another epoch
        (auth.LayerIdentity("robot1", 7, 42, 1, 4, "ffffffffffffffff"), b"payload"),  # another codebook
        (auth.LayerIdentity("robot1", 7, 42, 1, 4, ID.codebook_id, 1), b"payload"),  # another send stamp (freshness)
    ],
)
def test_any_changed_field_fails(identity, payload):
    tag = auth.sign(KEY, ID, b"payload")
    assert not auth.verify(KEY, identity, payload, tag)


def test_wrong_key_and_bad_tags_fail():
    tag = auth.sign(KEY, ID, b"payload")
    assert not auth.verify(b"other", ID, b"payload", tag)
    assert not auth.verify(KEY, ID, b"payload", b"")
    assert not auth.verify(KEY, ID, b"payload", tag[:-1])
    assert not auth.verify(KEY, ID, b"payload", bytes(32))


def test_length_prefixing_prevents_field_shifting():
    a = auth.sign(KEY, auth.LayerIdentity("ab", 1, 1, 0, 1, "c"), b"")
    b = auth.sign(KEY, auth.LayerIdentity("a", 1, 1, 0, 1, "bc"), b"")
    assert a != b


def test_load_key(tmp_path):
    assert auth.load_key() == b""
    assert auth.load_key(key_text="abc") == b"abc"
    path = tmp_path / "key"
    path.write_bytes(b"from-file\n")
    assert auth.load_key(key_text="ignored", key_file=str(path)) == b"from-file"
    (tmp_path / "empty").write_bytes(b"  \n")
    with pytest.raises(ValueError, match="empty"):
        auth.load_key(key_file=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="cannot read"):
        auth.load_key(key_file=str(tmp_path / "missing"))
    with pytest.raises(ValueError):
        auth.sign(b"", ID, b"x")
