import assert from "node:assert/strict";
import { WalletError } from "./errors.ts";
import {
  decodeEnvPassword,
  findPassword,
  passwordEnvName,
  promptPassword,
  readPasswordFile,
} from "./wallet_password.ts";
import { scriptedTerminal } from "../tests/wallet_fixtures.ts";

// Written by bittensor-wallet 4.1.1: Wallet(name="w.x", hotkey="h", path="/tmp/kf/wl").hotkey_file
// .env_var_name() and .save_password_to_env("pässword 1").
const SDK_PATH = "/tmp/kf/wl/w.x/hotkeys/h";
const SDK_NAME = "BT_PW__TMP_KF_WL_W_X_HOTKEYS_H";
const SDK_VALUE = "Mpf7IyQoMCYpcG4=";
const SDK_PASSWORD = "pässword 1";

async function passwordFile(text: string, mode = 0o600): Promise<string> {
  const path = `${await Deno.makeTempDir({ prefix: "wallet_pw_" })}/pw`;
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, mode);
  return path;
}

Deno.test("passwordEnvName() names the variable as bittensor-wallet does", () => {
  assert.equal(passwordEnvName(SDK_PATH), SDK_NAME);
  assert.equal(
    passwordEnvName("/home/u/.bittensor/wallets/default/hotkeys/default"),
    "BT_PW__HOME_U__BITTENSOR_WALLETS_DEFAULT_HOTKEYS_DEFAULT",
  );
  assert.equal(passwordEnvName("rel/wl/w.x/hotkeys/h"), "BT_PW_REL_WL_W_X_HOTKEYS_H");
});

Deno.test("decodeEnvPassword() reads the value bittensor-wallet's save_password_to_env writes", () => {
  assert.equal(decodeEnvPassword(SDK_NAME, SDK_VALUE), SDK_PASSWORD);
});

Deno.test("decodeEnvPassword() names the variable, not its value, when it is not the SDK's encoding", () => {
  for (const value of ["not base64!", "//79"]) {
    const err = (() => {
      try {
        decodeEnvPassword(SDK_NAME, value);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof WalletError, String(err));
    assert.equal(err.reason, "wrong_password");
    assert.match(err.message, new RegExp(`environment variable ${SDK_NAME}`));
    assert.ok(!err.message.includes(value));
  }
});

Deno.test("findPassword() takes the SDK's variable, then the password file, then the prompt", async () => {
  const file = await passwordFile("from-file\n");
  const prompt = scriptedTerminal("from-prompt\r");
  const all = { env: { [SDK_NAME]: SDK_VALUE }, passwordFile: file, terminal: prompt.terminal };
  assert.deepEqual(await findPassword(SDK_PATH, all, []), {
    password: SDK_PASSWORD,
    source: `environment variable ${SDK_NAME}`,
  });
  assert.deepEqual(await findPassword(SDK_PATH, { ...all, env: { [SDK_NAME]: "" } }, []), {
    password: "from-file",
    source: `wallet.password_file "${file}"`,
  });
  assert.deepEqual(await findPassword(SDK_PATH, { ...all, env: {}, passwordFile: null }, []), {
    password: "from-prompt",
    source: "the terminal prompt",
  });
  const noTty = scriptedTerminal("x\r", { isTerminal: false }).terminal;
  assert.equal(await findPassword(SDK_PATH, { env: {}, terminal: noTty }, []), null);
});

Deno.test("readPasswordFile() drops one final line break and warns when others may read it", async () => {
  const warnings: string[] = [];
  assert.equal(
    await readPasswordFile(await passwordFile("pw with spaces \r\n"), warnings),
    "pw with spaces ",
  );
  assert.equal(await readPasswordFile(await passwordFile("pw\n\n"), warnings), "pw\n");
  assert.deepEqual(warnings, []);
  const loose = await passwordFile("pw", 0o644);
  assert.equal(await readPasswordFile(loose, warnings), "pw");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /mode 644.*chmod 600/);
});

Deno.test("readPasswordFile() names the file when it is missing or empty", async () => {
  const dir = await Deno.makeTempDir();
  for (
    const [path, why] of [[`${dir}/nope`, /does not exist/], [await passwordFile("\n"), /is empty/]] as const
  ) {
    const err = await readPasswordFile(path, []).catch((e) => e);
    assert.ok(err instanceof WalletError);
    assert.ok(err.message.includes(`wallet.password_file "${path}"`), err.message);
    assert.match(err.message, why);
  }
});

Deno.test("promptPassword() reads in raw mode without echo and erases whole UTF-8 characters", async () => {
  // "pä" + "x" erased + "ss" + "é" erased + Enter; then bytes after Enter are left unread.
  const keys = "pä" + "x\x7f" + "ss" + "é\x7f" + "\rignored";
  const t = scriptedTerminal(keys);
  assert.equal(await promptPassword(t.terminal, "Password: "), "päss");
  assert.equal(t.written(), "Password: \n");
  assert.deepEqual(t.rawModes, [true, false]);
});

Deno.test("promptPassword() trims like the SDK's prompt and gives null when cancelled or not a terminal", async () => {
  assert.equal(await promptPassword(scriptedTerminal("  pw  \n").terminal, "? "), "pw");
  for (const keys of ["pw\x03", "pw\x04"]) {
    const t = scriptedTerminal(keys);
    assert.equal(await promptPassword(t.terminal, "? "), null);
    assert.deepEqual(t.rawModes, [true, false]);
  }
  const noTty = scriptedTerminal("pw\r", { isTerminal: false });
  assert.equal(await promptPassword(noTty.terminal, "? "), null);
  assert.equal(noTty.written(), "");
});
