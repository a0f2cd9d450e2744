"""The client's side of sharing: invitations, consent settings, and who viewed what.

Included at the root of kap.urls, without a namespace.
"""

from django.urls import path

from kap.care import views_sharing as views

urlpatterns = [
    path("invite/", views.invite_code, name="invite-code"),
    path("invite/<str:code>/", views.invite, name="invite"),
    path("account/sharing/", views.sharing, name="sharing"),
    path("account/sharing/views/", views.who_viewed, name="sharing-views"),
    path("account/sharing/<int:pk>/", views.sharing_update, name="sharing-link"),
    path("account/sharing/<int:pk>/end/", views.sharing_end, name="sharing-end"),
]
