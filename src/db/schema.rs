//! diesel table definitions, kept in step with `migrations/{sqlite,postgres}` by hand.

diesel::table! {
    instance_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        npi -> Nullable<Text>,
        tax_id -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        taxonomy_code -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        phone -> Nullable<Text>,
        submitter_id -> Nullable<Text>,
        submitter_name -> Nullable<Text>,
        contact_name -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        accession_prefix -> Text,
        default_place_of_service -> Text,
        timely_filing_days -> Integer,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        org_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        org_id -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        entity -> Text,
        entity_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    counters (org_id, name) {
        org_id -> Text,
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    providers (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        npi -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        organization_name -> Nullable<Text>,
        taxonomy_code -> Nullable<Text>,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payers (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        edi_id -> Text,
        claim_kind -> Text,
        receiver_edi_id -> Nullable<Text>,
        receiver_name -> Nullable<Text>,
        timely_filing_days -> Nullable<Integer>,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    patients (id) {
        id -> Text,
        org_id -> Text,
        mrn -> Text,
        first_name -> Text,
        middle_name -> Nullable<Text>,
        last_name -> Text,
        first_name_search -> Text,
        last_name_search -> Text,
        birth_date -> Date,
        sex -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        address_line1 -> Text,
        address_line2 -> Nullable<Text>,
        city -> Text,
        state -> Text,
        postal_code -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    coverages (id) {
        id -> Text,
        org_id -> Text,
        patient_id -> Text,
        payer_id -> Text,
        member_id -> Text,
        group_number -> Nullable<Text>,
        priority -> Text,
        relationship -> Text,
        subscriber_first_name -> Nullable<Text>,
        subscriber_last_name -> Nullable<Text>,
        subscriber_birth_date -> Nullable<Date>,
        subscriber_sex -> Nullable<Text>,
        subscriber_address_line1 -> Nullable<Text>,
        subscriber_address_line2 -> Nullable<Text>,
        subscriber_city -> Nullable<Text>,
        subscriber_state -> Nullable<Text>,
        subscriber_postal_code -> Nullable<Text>,
        effective_from -> Date,
        effective_to -> Nullable<Date>,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (org_id, idem_key) {
        org_id -> Text,
        idem_key -> Text,
        user_id -> Text,
        scope -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    audit_events,
    patients,
    coverages,
    payers
);

// The token extractor checks the user and the revocation list in one query.
diesel::allow_tables_to_appear_in_same_query!(users, revoked_tokens);
// A registration checks its caller and patient in one query (`lab::repo::registration_refs`).
diesel::allow_tables_to_appear_in_same_query!(revoked_tokens, patients);
