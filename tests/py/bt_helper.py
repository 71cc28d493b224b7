"""Drives the real Python Bittensor SDK for the Deno tests (wallet files, signatures, dendrite requests).

Reads a JSON list of operations on stdin and prints a JSON list of results on stdout, so one process
(about 1 s of `import bittensor`) serves a whole test file. Run with the .venv-bt interpreter, which has
bittensor 10.x and bittensor-wallet (see tests/requirements-bt.txt). Operations:

  {"op": "make_wallet", "root", "name", "hotkey", "hotkey_mnemonic"?, "coldkey_password"?, "hotkey_password"?}
  {"op": "password_env", "root", "name", "hotkey", "password"}
      -> {"name", "value", "sdk_hotkey_ss58"}: the BT_PW_... variable the SDK reads for that hotkey file,
         as its Keyfile.save_password_to_env writes it, and the hotkey the SDK itself decrypts with it
  {"op": "sign", "mnemonic", "message"}            -> {"signature": "0x..."}
  {"op": "verify", "ss58", "message", "signature"} -> {"valid": bool}
  {"op": "request", "mnemonic", "axon": {"ip", "port", "hotkey"}, "timeout", "synapse",
   "fields": [{"name", "type", "value", "required"?}], "hash_fields": [...]}
      -> {"headers", "body", "body_hash", "message", "field_strs"}: what Dendrite.call would send
  {"op": "axon_verify", "axon_hotkey", "headers", "body", "synapse", "fields", "hash_fields"}
      -> {"verified": bool, "error"?}: Axon.default_verify plus the body-hash check, on the SDK's code
"""

import asyncio
import json
import os
import sys
import types

import bittensor as bt
import pydantic
from bittensor.utils import networking
from bittensor_wallet import Keypair, Wallet

# Dendrite() asks web services for its external IP; tests run offline.
networking.get_external_ip = lambda: "127.0.0.1"

FIELD_TYPES = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "none": str | None,
    "list": list,
    "dict": dict,
    "list[float]": list[float],
    "dict[str, float]": dict[str, float],
}


def make_wallet(op: dict) -> dict:
    wallet = Wallet(name=op["name"], hotkey=op["hotkey"], path=op["root"])
    cold_pw = op.get("coldkey_password")
    wallet.regenerate_coldkey(
        mnemonic=Keypair.generate_mnemonic(12),
        use_password=cold_pw is not None,
        coldkey_password=cold_pw,
        overwrite=True,
        suppress=True,
    )
    hot_pw = op.get("hotkey_password")
    mnemonic = op.get("hotkey_mnemonic") or Keypair.generate_mnemonic(12)
    wallet.regenerate_hotkey(
        mnemonic=mnemonic,
        use_password=hot_pw is not None,
        hotkey_password=hot_pw,
        overwrite=True,
        suppress=True,
    )
    return {
        "hotkey_ss58": Keypair.create_from_mnemonic(mnemonic).ss58_address,
        "coldkey_ss58": wallet.coldkeypub.ss58_address,
        "hotkey_mnemonic": mnemonic,
        "hotkey_path": wallet.hotkey_file.path,
    }


def password_env(op: dict) -> dict:
    keyfile = Wallet(name=op["name"], hotkey=op["hotkey"], path=op["root"]).hotkey_file
    name = keyfile.env_var_name()
    # The Rust side sets the variable in the process env, which os.environ does not see: copy it over
    # so the SDK's own get_keypair() (which reads it through std::env) proves it decrypts the file.
    value = keyfile.save_password_to_env(op["password"])
    os.environ[name] = value
    try:
        ss58 = keyfile.get_keypair().ss58_address
    finally:
        del os.environ[name]
        keyfile.remove_password_from_env()
    return {"name": name, "value": value, "sdk_hotkey_ss58": ss58}


def sign(op: dict) -> dict:
    keypair = Keypair.create_from_mnemonic(op["mnemonic"])
    return {
        "signature": "0x" + keypair.sign(op["message"]).hex(),
        "ss58": keypair.ss58_address,
    }


def verify(op: dict) -> dict:
    return {
        "valid": Keypair(ss58_address=op["ss58"]).verify(op["message"], op["signature"])
    }


def synapse_class(op: dict) -> type:
    """A Synapse subclass with the given fields, as a subnet would declare it."""
    definitions = {}
    for f in op["fields"]:
        typ = FIELD_TYPES[f["type"]]
        definitions[f["name"]] = (typ, ...) if f.get("required") else (typ, f["value"])
    cls = pydantic.create_model(op["synapse"], __base__=bt.Synapse, **definitions)
    cls.required_hash_fields = tuple(op["hash_fields"])
    return cls


def axon_verify(op: dict) -> dict:
    """The SDK axon's checks on a request (from our TS dendrite): from_headers, default_verify, body hash."""
    cls = synapse_class(op)
    try:
        synapse = cls.from_headers(op["headers"])
        hotkey = types.SimpleNamespace(ss58_address=op["axon_hotkey"])
        axon = types.SimpleNamespace(
            wallet=types.SimpleNamespace(hotkey=hotkey), nonces={}
        )
        asyncio.run(bt.Axon.default_verify(axon, synapse))
        parsed_hash = cls(**json.loads(op["body"])).body_hash
    except Exception as e:  # noqa: BLE001 - default_verify raises bare Exception for every refusal
        return {"verified": False, "error": f"{type(e).__name__}: {e}"}
    return {
        "verified": parsed_hash == op["headers"]["computed_body_hash"],
        "parsed_hash": parsed_hash,
    }


def request(op: dict) -> dict:
    """Builds the request through the SDK's own path: preprocess_synapse_for_request, to_headers, model_dump."""
    cls = synapse_class(op)
    synapse = cls(**{f["name"]: f["value"] for f in op["fields"]})

    dendrite = bt.Dendrite(wallet=Keypair.create_from_mnemonic(op["mnemonic"]))
    axon = op["axon"]
    info = bt.AxonInfo(
        version=bt.settings.version_as_int,
        ip=axon["ip"],
        port=axon["port"],
        ip_type=4,
        hotkey=axon["hotkey"],
        coldkey=axon["hotkey"],
    )
    synapse = dendrite.preprocess_synapse_for_request(
        info, synapse, timeout=op["timeout"]
    )
    d = synapse.dendrite
    dump = synapse.model_dump()
    return {
        "headers": synapse.to_headers(),
        # aiohttp's `json=` serializes with json.dumps and default separators.
        "body": json.dumps(dump),
        "body_hash": synapse.body_hash,
        "message": f"{d.nonce}.{d.hotkey}.{synapse.axon.hotkey}.{d.uuid}.{synapse.body_hash}",
        "field_strs": {name: str(dump[name]) for name in op["hash_fields"]},
        "version_as_int": bt.settings.version_as_int,
    }


OPS = {
    "make_wallet": make_wallet,
    "password_env": password_env,
    "sign": sign,
    "verify": verify,
    "request": request,
    "axon_verify": axon_verify,
}


def main() -> None:
    # bittensor-wallet's Rust code prints progress ("Encrypting...") to fd 1: keep fd 1 for the JSON only.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    ops = json.load(sys.stdin)
    results = []
    for op in ops:
        try:
            results.append({"ok": True, **OPS[op["op"]](op)})
        except Exception as e:  # noqa: BLE001 - reported per operation, so one failure hides no other
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    sys.stdout.flush()
    json.dump(results, out)
    out.close()


if __name__ == "__main__":
    main()
