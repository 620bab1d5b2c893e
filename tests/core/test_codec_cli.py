"""`prosem calibrate --tokens` (fast path) and the argument checks of calibrate / bench codec."""
from __future__ import annotations

import numpy as np
from codec_helpers import synthetic_tokens

from prosem_core.cli.main import main
from prosem_core.codec import MetaAutoEncoder


def test_calibrate_from_tokens(tmp_path, capsys):
    np.save(tmp_path / "tok.npy", synthetic_tokens(60, seed=4))
    out = tmp_path / "cb"
    rc = main(["calibrate", "--tokens", str(tmp_path / "tok.npy"), "--model", "none", "--out", str(out),
               "--budgets", "256,256,512,1024", "--layer-levels", "0,01,2,012", "--detail-components", "16"])
    assert rc == 0
    ae = MetaAutoEncoder.load(out)
    assert ae.config.layer_budgets == (256, 256, 512, 1024) and ae.layer_count == 4
    assert "--tokens" in ae.provenance["command"]
    assert ae.codebook_id in capsys.readouterr().err


def test_calibrate_argument_errors(tmp_path, capsys):
    assert main(["calibrate", "--backend", "smolvlm", "--model-dir", str(tmp_path / "absent"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "--model-dir" in capsys.readouterr().err
    assert main(["calibrate", "--backend", "llava"]) == 2  # needs --out
    assert main(["calibrate", "--topic", "/camera"]) == 2  # --topic needs --bag
    assert main(["calibrate", "--bag", str(tmp_path / "nobag"), "--out", str(tmp_path / "y"), "--model", "none"]) == 2
    np.save(tmp_path / "bad.npy", np.zeros((3, 4), np.float32))
    assert main(["calibrate", "--tokens", str(tmp_path / "bad.npy"), "--model", "none", "--out", str(tmp_path / "z")]) == 2
    assert not (tmp_path / "z.npz").exists()
