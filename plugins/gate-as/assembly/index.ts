// Test fixture, not an example: the AssemblyScript twin of `plugins/gate` (same decisions, see
// its table), so the device tests check the SDK's broker-hooks glue with the same scenario.

import { Authentication, Authorization, Device, Hooks, log, registerHooks } from "switchyard-plugin";

// The glue the broker calls: keep this line in your entry file.
export * from "switchyard-plugin/hooks";

function head(path: string): string {
  return path.split("/")[0];
}

class Gate extends Hooks {
  authenticate(device: Device, password: Uint8Array): Authentication {
    log.info(device.username + " connects");
    if (device.username == "intruder") return Authentication.deny();
    if (device.username == "root") return Authentication.superuser();
    if (device.username == "guest") return Authentication.allow();
    if (device.username == "trapper") throw new Error("the gate traps for " + device.clientId);
    return Authentication.ignore();
  }

  authorizeSubscribe(device: Device, filter: string, qos: u8): Authorization {
    const first = head(filter);
    if (first == "secret") return Authorization.deny();
    if (first == "slow") return Authorization.maxQos(0);
    if (first == "open") return Authorization.allow();
    return Authorization.ignore();
  }

  authorizePublish(device: Device, topic: string, qos: u8): Authorization {
    const first = head(topic);
    if (first == "forbidden") return Authorization.deny();
    if (first == "open") return Authorization.allow();
    if (first == "trap") throw new Error("the gate traps on " + topic);
    return Authorization.ignore();
  }
}

// Last in the file, so every module-level value the hooks use is initialized first.
registerHooks(new Gate());
