//! diesel table definitions of the lab context (see `migrations/*/…_lab`).

diesel::table! {
    specimens (id) {
        id -> Text,
        org_id -> Text,
        accession_number -> Text,
        parent_id -> Nullable<Text>,
        aliquot_count -> Integer,
        patient_id -> Text,
        specimen_type -> Text,
        container -> Nullable<Text>,
        volume_ul -> Nullable<BigInt>,
        ordering_provider_id -> Nullable<Text>,
        priority -> Text,
        status -> Text,
        collected_at -> Nullable<Timestamp>,
        collected_by -> Nullable<Text>,
        received_at -> Nullable<Timestamp>,
        location -> Nullable<Text>,
        rejection_reasons -> Nullable<Text>,
        version -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        document -> Nullable<Text>,
        document_format -> BigInt,
    }
}

diesel::table! {
    specimen_tests (id) {
        id -> Text,
        org_id -> Text,
        specimen_id -> Text,
        code_system -> Text,
        code -> Text,
        name -> Text,
        billing_code -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    test_results (id) {
        id -> Text,
        org_id -> Text,
        test_id -> Text,
        result_version -> Integer,
        value -> Text,
        unit -> Nullable<Text>,
        reference_range -> Nullable<Text>,
        flag -> Nullable<Text>,
        comment -> Nullable<Text>,
        entered_by -> Text,
        entered_at -> Timestamp,
        verified_by -> Nullable<Text>,
        verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    custody_events (id) {
        id -> Text,
        org_id -> Text,
        specimen_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        kind -> Text,
        actor_id -> Text,
        at -> Timestamp,
        location -> Nullable<Text>,
        temperature_c -> Nullable<Double>,
        note -> Nullable<Text>,
        reasons -> Nullable<Text>,
    }
}

diesel::table! {
    lab_charges (id) {
        id -> Text,
        org_id -> Text,
        patient_id -> Text,
        specimen_id -> Text,
        test_id -> Text,
        procedure_code -> Text,
        service_date -> Date,
        amount_cents -> Nullable<BigInt>,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    manifests (id) {
        id -> Text,
        org_id -> Text,
        destination -> Text,
        courier -> Nullable<Text>,
        tracking_number -> Nullable<Text>,
        temperature -> Nullable<Text>,
        status -> Text,
        shipped_at -> Nullable<Timestamp>,
        results_received_at -> Nullable<Timestamp>,
        note -> Nullable<Text>,
        version -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    manifest_specimens (org_id, manifest_id, specimen_id) {
        org_id -> Text,
        manifest_id -> Text,
        specimen_id -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    specimens,
    specimen_tests,
    test_results,
    custody_events,
    lab_charges,
    manifests,
    manifest_specimens
);

// A specimen read checks its caller in its own query (`auth::Guard`): the user and the token's
// revocation appear, as a subquery, in the specimen queries.
use crate::db::schema::{revoked_tokens, users};
diesel::allow_tables_to_appear_in_same_query!(users, specimens);
diesel::allow_tables_to_appear_in_same_query!(users, specimen_tests);
diesel::allow_tables_to_appear_in_same_query!(users, test_results);
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, specimens);
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, specimen_tests);
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, test_results);

diesel::table! {
    /// Which open (draft or shipped) manifest holds a specimen: at most one, by the primary key.
    /// The row goes when the manifest closes (results received or cancelled). Migration
    /// `…000500_lab_sendout`.
    manifest_holds (org_id, specimen_id) {
        org_id -> Text,
        specimen_id -> Text,
        manifest_id -> Text,
    }
}
