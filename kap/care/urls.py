from django.urls import path

from kap.care import views, views_invites, views_packs, views_staff

app_name = "care"
urlpatterns = [
    path("", views.roster, name="roster"),
    path("invite/", views.invite, name="invite"),
    path("invite/<int:invite_id>/revoke/", views.invite_revoke, name="invite-revoke"),
    path("clients/<int:client_id>/", views.client, name="client"),
    path("clients/<int:client_id>/notes/", views.note_add, name="note-add"),
    path(
        "clients/<int:client_id>/questions/<int:question_id>/discussed/",
        views.question_discussed,
        name="question-discussed",
    ),
    path("clients/<int:client_id>/brief/", views.brief, name="brief"),
    path("clients/<int:client_id>/brief.pdf", views.brief_pdf, name="brief-pdf"),
    path("alerts/<int:event_id>/acknowledge/", views.alert_ack, name="alert-ack"),
    path("clinic/", views.clinic, name="clinic"),
    path("clinic/invite/", views.clinic_invite, name="clinic-invite"),
    # Invitations by e-mail (kap.care.views_invites).
    path("clinic/invitations/", views_invites.clinic_invitations, name="clinic-invitations"),
    path(
        "clinic/invitations/words/",
        views_invites.clinic_invitation_text,
        name="clinic-invitation-text",
    ),
    path(
        "clinic/invite/<int:invite_id>/resend/",
        views_invites.clinic_invite_resend,
        name="clinic-invite-resend",
    ),
    path(
        "clinic/invite/<int:invite_id>/revoke/",
        views_invites.clinic_invite_revoke,
        name="clinic-invite-revoke",
    ),
    path(
        "clinic/therapists/<int:user_id>/active/", views.therapist_active, name="therapist-active"
    ),
    # Admins and second factors (kap.care.views_staff).
    path("clinic/admins/add/", views_staff.admin_add, name="clinic-admin-add"),
    path(
        "clinic/staff/<int:user_id>/second-factor/reset/",
        views_staff.second_factor_reset,
        name="staff-second-factor-reset",
    ),
    # The clinic's own content packs (kap.care.views_packs).
    path("clinic/packs/", views_packs.packs, name="clinic-packs"),
    path("clinic/packs/upload/", views_packs.pack_upload, name="clinic-pack-upload"),
    path("clinic/packs/<int:upload_id>/", views_packs.pack_report, name="clinic-pack"),
    path(
        "clinic/packs/<int:upload_id>/i/<slug:key>/",
        views_packs.pack_preview,
        name="clinic-pack-preview",
    ),
    path(
        "clinic/packs/<int:upload_id>/publish/",
        views_packs.pack_publish,
        name="clinic-pack-publish",
    ),
]
