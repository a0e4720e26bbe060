//! diesel table definitions of the claims context (see `migrations/*/…_claims`).

diesel::table! {
    claims (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        status -> Text,
        patient_id -> Text,
        coverage_id -> Text,
        payer_id -> Text,
        rendering_provider_id -> Nullable<Text>,
        place_of_service -> Text,
        diagnoses -> Text,
        prior_authorization -> Nullable<Text>,
        notes -> Nullable<Text>,
        patient_control_number -> Text,
        frequency_code -> Text,
        original_claim_id -> Nullable<Text>,
        original_reference -> Nullable<Text>,
        payer_claim_number -> Nullable<Text>,
        total_charge_cents -> BigInt,
        service_from -> Date,
        service_to -> Date,
        version -> Integer,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    claim_lines (id) {
        id -> Text,
        org_id -> Text,
        claim_id -> Text,
        line_number -> Integer,
        procedure_code -> Text,
        modifiers -> Text,
        diagnosis_pointers -> Text,
        units -> BigInt,
        charge_cents -> BigInt,
        service_date -> Date,
        tooth -> Nullable<Text>,
        surfaces -> Text,
        oral_cavity_area -> Nullable<Text>,
        line_control_number -> Text,
        charge_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    claim_events (id) {
        id -> Text,
        org_id -> Text,
        claim_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_id -> Nullable<Text>,
        at -> Timestamp,
        reason -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(claims, claim_lines, claim_events);
