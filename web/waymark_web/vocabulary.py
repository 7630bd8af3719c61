"""The words of the contract's code lists (statuses, urgencies, reasons…) as people read them;
translated where they are shown."""

from waymark_web.i18n import N_, gettext

LABELS: dict[str, dict[str, str]] = {
    "status": {
        "draft": N_("Draft"), "requested": N_("Requested"), "received": N_("Received"),
        "accepted": N_("Accepted"), "rejected": N_("Declined"), "in_progress": N_("In progress"),
        "on_hold": N_("On hold"), "completed": N_("Completed"), "failed": N_("Failed"),
        "cancelled": N_("Cancelled"),
    },
    "urgency": {
        "emergency": N_("Emergency (answer within 1 hour)"),
        "high": N_("High (answer within 24 hours)"),
        "normal": N_("Normal (answer within 3 days)"),
        "low": N_("Low (answer within 7 days)"),
    },
    "migration_stage": {
        "origin": N_("Origin"), "transit": N_("Transit"), "destination": N_("Destination"),
        "return": N_("Return"),
    },
    "capacity": {"available": N_("Places available"), "limited": N_("Limited places"),
                 "full": N_("Full")},
    "population": {
        "migrant_domestic_workers": N_("Migrant domestic workers"),
        "victims_of_trafficking": N_("Victims of trafficking"),
        "unaccompanied_children": N_("Unaccompanied children"),
        "women_at_risk": N_("Women at risk"), "returnees": N_("Returnees"),
        "all_migrants": N_("All migrants"),
    },
    "sex": {"female": N_("Female"), "male": N_("Male"), "other": N_("Other"),
            "unknown": N_("Not known")},
    "vulnerability": {
        "victim_of_trafficking": N_("Victim of trafficking"),
        "domestic_worker": N_("Domestic worker"),
        "unaccompanied_child": N_("Unaccompanied child"),
        "separated_child": N_("Separated child"), "pregnant": N_("Pregnant"),
        "disability": N_("Disability"),
        "serious_medical_condition": N_("Serious medical condition"),
        "mental_health_need": N_("Mental health need"),
        "survivor_of_violence": N_("Survivor of violence"), "older_person": N_("Older person"),
        "single_caregiver": N_("Single caregiver"),
    },
    "legal_basis": {
        "consent": N_("Consent of the person"),
        "vital_interest": N_("Vital interest (the person cannot consent and their life or safety is at stake)"),
        "public_interest": N_("Public interest"), "legitimate_interest": N_("Legitimate interest"),
        "legal_obligation": N_("Legal obligation"), "contract": N_("Contract"),
    },
    "consent_method": {"verbal": N_("Verbal"), "written": N_("Written"),
                       "electronic": N_("Electronic"), "other": N_("Other")},
    "rejection_reason": {
        "no_capacity": N_("No capacity"), "not_eligible": N_("Not eligible"),
        "out_of_area": N_("Out of our area"), "duplicate": N_("Duplicate referral"),
        "unable_to_contact": N_("Unable to contact the person"), "other": N_("Other reason"),
    },
    "person_field": {
        "given_name": N_("Given name"), "family_name": N_("Family name"),
        "date_of_birth": N_("Date of birth"), "age_estimate": N_("Estimated age"),
        "sex": N_("Sex"), "nationality": N_("Nationality"), "languages": N_("Languages spoken"),
        "phone": N_("Phone"), "current_country": N_("Country where the person is now"),
        "safe_contact": N_("Safe way to contact"),
    },
    "role": {"caseworker": N_("Caseworker"), "viewer": N_("Viewer (reads only)"),
             "org_admin": N_("Organisation admin"), "network_admin": N_("Network admin")},
    "service_status": {"active": N_("Open"), "inactive": N_("Inactive"),
                       "defunct": N_("Closed for good"),
                       "temporarily_closed": N_("Temporarily closed")},
}


def label(vocabulary: str, code: str | None) -> str:
    """The word for `code` in the current language; an unknown code shows as itself."""
    if code is None:
        return ""
    text = LABELS.get(vocabulary, {}).get(code)
    return gettext(text) if text else code


def codes(vocabulary: str) -> list[str]:
    return list(LABELS[vocabulary])
