//! Full round-trip mode (issue 14): its walk keeps the schemas packed, as what changed from
//! one to the next, and rebuilds the ones each comparison needs. The verdicts, messages and
//! diffs below were recorded from migcheck before that change (commit 020b6e9), when the walk
//! kept every schema whole; they must not move. Real servers, started by migcheck's local
//! provider.

mod support;

use support::{fixture, verify, Run};

/// Every round-trip check of a fixture verified in full mode: (fixture, migration, status,
/// phases, message, objects that differ).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const RECORDED: &[Row] = &[
    // down-drops-wrong-object
    ("down-drops-wrong-object", "0001_create_users", "pass", "down:pass reapply:pass", "full round trip through 0001_create_users matched", &[]),
    ("down-drops-wrong-object", "0002_create_products", "pass", "down:pass reapply:pass", "full round trip through 0002_create_products matched", &[]),
    ("down-drops-wrong-object", "0003_create_orders", "pass", "down:pass reapply:pass", "full round trip through 0003_create_orders matched", &[]),
    ("down-drops-wrong-object", "0004_index_orders_status", "fail", "down:fail reapply:pass", "going down from the top, 0004_index_orders_status's down did not restore the schema before it: 2 objects differ (added table public.orders > index orders_status_idx, removed table public.products > index products_created_at_idx)", &["table public.orders > index orders_status_idx", "table public.products > index products_created_at_idx"]),
    // down-fails
    ("down-fails", "0001_create_users", "skip", "", "not reached: a later migration could not be reverted", &[]),
    ("down-fails", "0002_create_products", "skip", "", "not reached: a later migration could not be reverted", &[]),
    ("down-fails", "0003_create_orders", "skip", "", "not reached: a later migration could not be reverted", &[]),
    ("down-fails", "0004_create_shipments", "fail", "down:fail", "down of 0004_create_shipments failed: table \"shipment\" does not exist [42P01]", &[]),
    ("down-fails", "0005_add_order_note", "pass", "down:pass reapply:pass", "full round trip through 0005_add_order_note matched", &[]),
    // down-forgets-index
    ("down-forgets-index", "0001_create_users", "pass", "down:pass reapply:pass", "full round trip through 0001_create_users matched", &[]),
    ("down-forgets-index", "0002_create_products", "pass", "down:pass reapply:pass", "full round trip through 0002_create_products matched", &[]),
    ("down-forgets-index", "0003_create_orders", "pass", "down:pass reapply:pass", "full round trip through 0003_create_orders matched", &[]),
    ("down-forgets-index", "0004_add_order_reference", "fail", "down:fail reapply:pass", "going down from the top, 0004_add_order_reference's down did not restore the schema before it: 1 object differs (added table public.orders > index orders_created_at_idx)", &["table public.orders > index orders_created_at_idx"]),
    // down-wrong-column-type
    ("down-wrong-column-type", "0001_create_users", "pass", "down:pass reapply:pass", "full round trip through 0001_create_users matched", &[]),
    ("down-wrong-column-type", "0002_create_products", "pass", "down:pass reapply:pass", "full round trip through 0002_create_products matched", &[]),
    ("down-wrong-column-type", "0003_create_orders", "pass", "down:pass reapply:pass", "full round trip through 0003_create_orders matched", &[]),
    ("down-wrong-column-type", "0004_widen_product_name", "fail", "down:fail reapply:pass", "going down from the top, 0004_widen_product_name's down did not restore the schema before it: 1 object differs (changed table public.products > column name)", &["table public.products > column name"]),
    // frozen-now-view-and-leftover
    ("frozen-now-view-and-leftover", "0001_create_events", "pass", "down:pass reapply:pass", "full round trip through 0001_create_events matched", &[]),
    ("frozen-now-view-and-leftover", "0002_create_recent_events", "fail", "down:fail reapply:pass", "going down from the top, 0002_create_recent_events's down did not restore the schema before it: 1 object differs (added table public.events > index events_id_happened_at_idx)", &["table public.events > index events_id_happened_at_idx"]),
    ("frozen-now-view-and-leftover", "0003_add_event_note", "pass", "down:pass reapply:pass", "full round trip through 0003_add_event_note matched", &[]),
];

fn path(name: &str) -> std::path::PathBuf {
    match name {
        "frozen-now-view-and-leftover" => fixture("postgres/trust/frozen-now-view-and-leftover"),
        _ => fixture(&format!("postgres/broken/{name}")),
    }
}

fn full(name: &str) -> Run {
    verify(
        &path(name),
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--roundtrip",
            "full",
        ],
    )
}

fn roundtrips(run: &Run) -> Vec<serde_json::Value> {
    run.checks()
        .into_iter()
        .filter(|c| c["name"] == "roundtrip")
        .collect()
}

#[test]
fn full_mode_gives_the_verdicts_it_gave_when_it_kept_every_schema() {
    let mut names: Vec<&str> = RECORDED.iter().map(|r| r.0).collect();
    names.dedup();
    for name in names {
        let run = full(name);
        assert_eq!(run.code(), 1, "{name}: {}", run.describe());
        let got: Vec<(String, String, String, String, Vec<String>)> = roundtrips(&run)
            .iter()
            .map(|c| {
                let phases: Vec<String> = c["phases"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:{}",
                            p["name"].as_str().unwrap(),
                            p["status"].as_str().unwrap()
                        )
                    })
                    .collect();
                let objects = c["objects"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|o| o.as_str().unwrap().to_string())
                    .collect();
                (
                    c["migration"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                    phases.join(" "),
                    c["message"].as_str().unwrap().to_string(),
                    objects,
                )
            })
            .collect();
        let want: Vec<(String, String, String, String, Vec<String>)> = RECORDED
            .iter()
            .filter(|r| r.0 == name)
            .map(|r| {
                (
                    r.1.to_string(),
                    r.2.to_string(),
                    r.3.to_string(),
                    r.4.to_string(),
                    r.5.iter().map(|o| o.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn full_mode_diffs_are_the_ones_it_gave_when_it_kept_every_schema() {
    for (name, migration, diff) in [
        (
            "down-drops-wrong-object",
            "0004_index_orders_status",
            r#"--- schema before 0004_index_orders_status (expected)
+++ schema after the downs from the top to 0004_index_orders_status (actual)
@@ -37,6 +37,8 @@ table public.orders > index orders_status_idx
 table public.orders > constraint orders_user_id_fkey
   definition: FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE
   type: foreign key
+table public.orders > index orders_status_idx
+  definition: CREATE INDEX orders_status_idx ON public.orders USING btree (status)
 table public.orders > index orders_user_id_idx
   definition: CREATE INDEX orders_user_id_idx ON public.orders USING btree (user_id)
 table public.products
@@ -73,8 +75,6 @@ table public.products > index products_created_at_idx
 table public.products > constraint products_price_cents_check
   definition: CHECK ((price_cents >= 0))
   type: check
-table public.products > index products_created_at_idx
-  definition: CREATE INDEX products_created_at_idx ON public.products USING btree (created_at)
 table public.products > index products_sku_key
   definition: CREATE UNIQUE INDEX products_sku_key ON public.products USING btree (sku)
 table public.users
"#,
        ),
        (
            "down-wrong-column-type",
            "0004_widen_product_name",
            r#"--- schema before 0004_widen_product_name (expected)
+++ schema after the downs from the top to 0004_widen_product_name (actual)
@@ -56,7 +56,7 @@ table public.products > column name
   type: bigint
 table public.products > column name
   not null: yes
-  type: character varying(100)
+  type: character varying(120)
 table public.products > column price_cents
   not null: yes
   type: integer
"#,
        ),
    ] {
        let run = full(name);
        let check = roundtrips(&run)
            .into_iter()
            .find(|c| c["migration"] == migration)
            .unwrap_or_else(|| panic!("{name}: no roundtrip:{migration}\n{}", run.describe()));
        assert_eq!(check["diff"].as_str(), Some(diff), "{name}");
    }
}

/// A mismatch sends full mode through a replay of the ups (streamed into the packed store)
/// and a second judgement with the frozen value masked: the leftover index still fails, the
/// frozen `now()` is one finding at the migration that creates the view.
#[test]
fn full_mode_learns_from_its_replay_as_it_did() {
    let run = full("frozen-now-view-and-leftover");
    let findings: Vec<serde_json::Value> = run.json.as_ref().expect("JSON report")["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f["rule"] == "nondeterministic-definition")
        .collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["migration"], "0002_create_recent_events");
    assert_eq!(findings[0]["line"], 1);
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("view public.recent_events: definition differs between two runs"),
        "{}",
        findings[0]
    );
}
