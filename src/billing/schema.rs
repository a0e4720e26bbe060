//! diesel table definitions of the billing context (see `migrations/*/…_batches`).

diesel::table! {
    batches (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        payer_id -> Text,
        status -> Text,
        interchange_control_number -> Nullable<BigInt>,
        group_control_number -> Nullable<BigInt>,
        created_by -> Nullable<Text>,
        approved_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        submitted_by -> Nullable<Text>,
        submitted_at -> Nullable<Timestamp>,
        claim_count -> Integer,
        total_charge_cents -> BigInt,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    batch_claims (batch_id, claim_id) {
        org_id -> Text,
        batch_id -> Text,
        claim_id -> Text,
        active -> Bool,
    }
}

diesel::table! {
    batch_events (id) {
        id -> Text,
        org_id -> Text,
        batch_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_id -> Nullable<Text>,
        at -> Timestamp,
        reason -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(batches, batch_claims, batch_events);

// The 837 reads a batch's claims in output order by joining them to the batch.
use crate::claims::schema::claims;
diesel::allow_tables_to_appear_in_same_query!(batch_claims, claims);

// The 837 reads each claim with its patient, coverage and rendering provider in one join, and
// the lines of the batch's claims joined to the batch (`batches_x12`).
use crate::claims::schema::claim_lines;
use crate::db::schema::{coverages, patients, providers};
diesel::allow_tables_to_appear_in_same_query!(batch_claims, patients);
diesel::allow_tables_to_appear_in_same_query!(batch_claims, coverages);
diesel::allow_tables_to_appear_in_same_query!(batch_claims, providers);
diesel::allow_tables_to_appear_in_same_query!(batch_claims, claim_lines);
diesel::allow_tables_to_appear_in_same_query!(claims, patients);
diesel::allow_tables_to_appear_in_same_query!(claims, coverages);
diesel::allow_tables_to_appear_in_same_query!(claims, providers);
diesel::allow_tables_to_appear_in_same_query!(patients, providers);
diesel::allow_tables_to_appear_in_same_query!(coverages, providers);
