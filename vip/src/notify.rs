//! keepalived-style notify hooks: `notify` gets
//! `INSTANCE <name> <STATE> <priority>`, `notify_<state>` gets nothing.
//! Hooks run detached so a slow script never delays an advertisement.

use std::path::PathBuf;

use crate::config::Notify;
use crate::state::State;

pub fn state_changed(hooks: &Notify, name: &str, to: State, priority: u8) {
    let specific = match to {
        State::Master => hooks.master.as_ref(),
        State::Backup => hooks.backup.as_ref(),
        State::Fault => hooks.fault.as_ref(),
        State::Initialize => None,
    };
    if let Some(path) = specific {
        spawn(path.clone(), vec![]);
    }
    if let Some(path) = &hooks.any {
        let args = vec![
            "INSTANCE".into(),
            name.into(),
            to.name().into(),
            priority.to_string(),
        ];
        spawn(path.clone(), args);
    }
}

fn spawn(path: PathBuf, args: Vec<String>) {
    tokio::spawn(async move {
        let status = tokio::process::Command::new(&path)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .status()
            .await;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::warn!(hook = %path.display(), %s, "notify hook failed"),
            Err(e) => tracing::warn!(hook = %path.display(), "notify hook not run: {e}"),
        }
    });
}
