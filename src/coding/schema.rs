//! diesel table definitions of the coding context, kept in step with
//! `migrations/{sqlite,postgres}/2026-11-27-000300_coding` by hand.

diesel::table! {
    code_sets (system) {
        system -> Text,
        edition -> Text,
        checksum -> Text,
        generation -> Text,
        row_count -> BigInt,
        loaded_at -> Timestamp,
    }
}

diesel::table! {
    codes (system, code) {
        system -> Text,
        code -> Text,
        description -> Text,
        billable -> Bool,
        effective_from -> Nullable<Date>,
        effective_to -> Nullable<Date>,
    }
}

diesel::table! {
    org_code_sets (org_id, system) {
        org_id -> Text,
        system -> Text,
        generation -> Text,
        row_count -> BigInt,
        imported_at -> Timestamp,
        imported_by -> Nullable<Text>,
    }
}

diesel::table! {
    org_codes (org_id, system, code) {
        org_id -> Text,
        system -> Text,
        code -> Text,
        description -> Text,
        effective_from -> Nullable<Date>,
        effective_to -> Nullable<Date>,
    }
}

diesel::table! {
    fee_schedules (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        payer_id -> Nullable<Text>,
        name -> Text,
        effective_from -> Nullable<Date>,
        effective_to -> Nullable<Date>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    fee_schedule_items (id) {
        id -> Text,
        org_id -> Text,
        schedule_id -> Text,
        code -> Text,
        modifier -> Text,
        amount_cents -> BigInt,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

// The pipelined search checks its caller in its own query (`auth::Guard`): the user and the
// token's revocation appear, as a subquery, in the read of a table's generation.
use crate::db::schema::{revoked_tokens, users};
diesel::allow_tables_to_appear_in_same_query!(users, code_sets);
diesel::allow_tables_to_appear_in_same_query!(users, org_code_sets);
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, code_sets);
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, org_code_sets);
