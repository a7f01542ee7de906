// Broker hooks: what a plugin of the `broker-hooks` world decides for the embedded MQTT broker
// (who may connect, which subscriptions and publishes go ahead), as AssemblyScript values.

/** A device as the broker knows it when it asks. */
export class Device {
  constructor(
    /** The client id it connected with. */
    public readonly clientId: string,
    /** The username it gave; empty if none. */
    public readonly username: string,
    /** The tenant of the `MQTTDevice` it signed in as, once it has. */
    public readonly tenant: string | null,
  ) {}
}

/** Whether a device may connect; the cases mirror the WIT `authentication` enum. */
export class Authentication {
  private constructor(
    /** The WIT case number. */
    public readonly code: u8,
    /** Set when the hook failed: the broker denies and logs the reason. */
    public readonly error: string | null,
  ) {}

  /** Decide as without the hook: by the `MQTTDevice` objects. */
  static ignore(): Authentication { return new Authentication(0, null); }
  /** Let it in: as its `MQTTDevice` if its username names one, otherwise into the default
   *  tenant with no topics of its own. */
  static allow(): Authentication { return new Authentication(1, null); }
  /** Refuse it (CONNACK: not authorized). */
  static deny(): Authentication { return new Authentication(2, null); }
  /** Let it in with every topic of its tenant, without asking the hook again. */
  static superuser(): Authentication { return new Authentication(3, null); }
  /** The hook could not decide: the broker denies and logs `reason`. */
  static fail(reason: string): Authentication { return new Authentication(0, reason); }
}

/** Whether a subscription or a publish goes ahead; the cases mirror the WIT `authorization`
 *  variant. */
export class Authorization {
  private constructor(
    /** The WIT case number. */
    public readonly code: u8,
    /** The QoS of `maxQos`. */
    public readonly qos: u8,
    /** Set when the hook failed: the broker denies and logs the reason. */
    public readonly error: string | null,
  ) {}

  /** Decide as without the hook: by the device's `subscribe` and `publish` filters. */
  static ignore(): Authorization { return new Authorization(0, 0, null); }
  /** Let it go ahead. */
  static allow(): Authorization { return new Authorization(1, 0, null); }
  /** Refuse it: a SUBACK failure, or a publish dropped. */
  static deny(): Authorization { return new Authorization(2, 0, null); }
  /** Subscriptions only: let it go ahead at no more than `qos` (0, 1 or 2). */
  static maxQos(qos: u8): Authorization { return new Authorization(3, qos, null); }
  /** The hook could not decide: the broker denies and logs `reason`. */
  static fail(reason: string): Authorization { return new Authorization(0, 0, reason); }
}

/** What a hooks plugin decides: extend it and override the methods you need; the others
 *  answer `ignore` (the `MQTTDevice` objects decide). A `throw` or a trap denies. */
export class Hooks {
  /** A device connecting with `password`. */
  authenticate(device: Device, password: Uint8Array): Authentication {
    return Authentication.ignore();
  }

  /** A device subscribing to `filter` at `qos`. */
  authorizeSubscribe(device: Device, filter: string, qos: u8): Authorization {
    return Authorization.ignore();
  }

  /** A device publishing to `topic` at `qos`. */
  authorizePublish(device: Device, topic: string, qos: u8): Authorization {
    return Authorization.ignore();
  }
}

let registered: Hooks | null = null;

/** Makes `hooks` the plugin's broker hooks. Call it once, at the top level at the end of the
 *  entry file; the entry file must also `export * from "switchyard-plugin/hooks"`. */
export function registerHooks(hooks: Hooks): void {
  registered = hooks;
}

/** The registered hooks, or null if the plugin never called `registerHooks`. */
export function registeredHooks(): Hooks | null {
  return registered;
}
