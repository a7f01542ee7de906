//! What a tenant may use. Each quota is set on the tenant by the operator, or else comes from
//! the server's defaults (its `--quota-*` flags); a quota unset in both is no limit.

use serde::{Deserialize, Serialize};
use switchyard_store::StorageQuota;

/// A tenant's quotas; `None` is unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quotas {
    /// Plugins installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<u64>,
    /// Bytes of one plugin upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_bytes: Option<u64>,
    /// Objects stored, of every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<u64>,
    /// MiB of objects stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_mb: Option<u64>,
    /// Broker clients, of every kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<u64>,
    /// Subscribers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<u64>,
    /// Callbacks started per second; more wait their turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocations_per_second: Option<u64>,
    /// The most memory, in MiB, any of its plugins may be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

/// One quota by name, as the API and the CLI name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Plugins,
    PluginBytes,
    Objects,
    StorageMb,
    Clients,
    Subscribers,
    InvocationsPerSecond,
    MemoryMb,
}

impl Quota {
    pub const ALL: [Quota; 8] = [
        Quota::Plugins,
        Quota::PluginBytes,
        Quota::Objects,
        Quota::StorageMb,
        Quota::Clients,
        Quota::Subscribers,
        Quota::InvocationsPerSecond,
        Quota::MemoryMb,
    ];

    /// Its name in JSON (`pluginBytes`).
    pub fn name(self) -> &'static str {
        match self {
            Quota::Plugins => "plugins",
            Quota::PluginBytes => "pluginBytes",
            Quota::Objects => "objects",
            Quota::StorageMb => "storageMb",
            Quota::Clients => "clients",
            Quota::Subscribers => "subscribers",
            Quota::InvocationsPerSecond => "invocationsPerSecond",
            Quota::MemoryMb => "memoryMb",
        }
    }

    /// The quota called `name`.
    pub fn named(name: &str) -> Option<Quota> {
        Quota::ALL.into_iter().find(|quota| quota.name() == name)
    }
}

impl Quotas {
    /// The value of one quota.
    pub fn get(&self, quota: Quota) -> Option<u64> {
        *self.slot(quota)
    }

    /// Sets (or, with `None`, unsets) one quota.
    pub fn set(&mut self, quota: Quota, value: Option<u64>) {
        *self.slot_mut(quota) = value;
    }

    fn slot(&self, quota: Quota) -> &Option<u64> {
        match quota {
            Quota::Plugins => &self.plugins,
            Quota::PluginBytes => &self.plugin_bytes,
            Quota::Objects => &self.objects,
            Quota::StorageMb => &self.storage_mb,
            Quota::Clients => &self.clients,
            Quota::Subscribers => &self.subscribers,
            Quota::InvocationsPerSecond => &self.invocations_per_second,
            Quota::MemoryMb => &self.memory_mb,
        }
    }

    fn slot_mut(&mut self, quota: Quota) -> &mut Option<u64> {
        match quota {
            Quota::Plugins => &mut self.plugins,
            Quota::PluginBytes => &mut self.plugin_bytes,
            Quota::Objects => &mut self.objects,
            Quota::StorageMb => &mut self.storage_mb,
            Quota::Clients => &mut self.clients,
            Quota::Subscribers => &mut self.subscribers,
            Quota::InvocationsPerSecond => &mut self.invocations_per_second,
            Quota::MemoryMb => &mut self.memory_mb,
        }
    }

    /// These quotas, with `defaults` where these are unset.
    pub fn or(&self, defaults: &Quotas) -> Quotas {
        let mut effective = *self;
        for quota in Quota::ALL {
            if effective.get(quota).is_none() {
                effective.set(quota, defaults.get(quota));
            }
        }
        effective
    }

    /// What the store checks as write sets commit.
    pub fn storage(&self) -> StorageQuota {
        StorageQuota {
            objects: self.objects,
            bytes: self.storage_mb.map(|mb| mb.saturating_mul(1 << 20)),
        }
    }

    /// Refuses `used + adding` over `quota`, naming it: `Err` is the message of a 429.
    pub fn check(&self, quota: Quota, used: u64, adding: u64) -> Result<(), String> {
        match self.get(quota) {
            Some(max) if used.saturating_add(adding) > max => Err(format!(
                "{} quota: this tenant may have {max} and has {used}",
                quota.name()
            )),
            _ => Ok(()),
        }
    }
}
