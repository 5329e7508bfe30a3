//! `keyward inventory`: every key and version of the token as a table,
//! JSON or CSV.
//!
//! Owns: the columns and their formatting. Must not touch: what a key or a
//! version is (the library's `KeyInfo`/`VersionInfo`, returned by
//! `Library::kms_keys`).

use crate::format::{PinArg, e, json, user_session};
use keyward::library::Library;
use keyward::types::Handle;

/// `inventory` output formats.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct InventoryFormat {
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    #[arg(long)]
    pub csv: bool,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// `keyward inventory`: every key and version.
pub fn run_inventory(lib: &Library, slot: Handle, pin: &PinArg, f: InventoryFormat) -> Result<String, String> {
    let h = user_session(lib, slot, pin)?;
    let keys = lib.kms_keys(h, true).map_err(e);
    let _ = lib.close_session(h);
    let keys = keys?;
    if f.json {
        return json(&keys);
    }
    let cols = [
        "name",
        "key_id",
        "id",
        "version",
        "primary",
        "algorithm",
        "size",
        "state",
        "origin",
        "created",
        "rotated",
        "expires",
        "next_rotation",
        "destroy_at",
        "tags",
    ];
    let mut rows = Vec::new();
    for k in &keys {
        let tags = k.tags.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join(",");
        for v in &k.versions {
            rows.push(vec![
                k.name.clone(),
                k.key_id.clone(),
                k.id.clone(),
                v.version.to_string(),
                v.primary.to_string(),
                v.algorithm.clone(),
                v.size_bits.to_string(),
                v.state.to_string(),
                v.origin.to_string(),
                v.created.clone(),
                v.rotated.clone(),
                v.end_date.clone(),
                v.next_rotation.clone(),
                v.destroy_at.clone(),
                tags.clone(),
            ]);
        }
    }
    if f.csv {
        let mut s = cols.join(",");
        for r in rows {
            s += "\n";
            s += &r.iter().map(|x| csv_field(x)).collect::<Vec<_>>().join(",");
        }
        return Ok(s);
    }
    let mut widths: Vec<usize> = cols.iter().map(|c| c.len()).collect();
    for r in &rows {
        for (i, x) in r.iter().enumerate() {
            widths[i] = widths[i].max(x.len());
        }
    }
    let line = |r: &[String]| {
        r.iter()
            .enumerate()
            .map(|(i, x)| format!("{:<w$}", x, w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut s = line(&cols.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>());
    for r in &rows {
        s += "\n";
        s += &line(r);
    }
    Ok(s)
}
