"""Forms of invitations: one invitation link (a therapist's to a client, a clinic's to a
therapist), the clinic's list of addresses to invite (pasted, or a CSV file), and the clinic's own
opening words for its invitation e-mails."""

from __future__ import annotations

from django import forms
from django.db.models.functions import Lower
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kap.accounts.models import Invite, Role, User
from kap.care import invitations
from kap.lib.limits import INVITATION_TEXT, INVITE_LIST_BYTES, INVITES_PER_LIST, limit_length
from kap.lib.widgets import Textarea

INVITE_DAYS = 7
REFUSED_SHOWN = 100  # refused lines listed on the page (the count says how many in all)


def _formatted(text, **values) -> str:
    """`text % values`, made when it is shown (so in the reader's language): for class attributes."""
    return lazy(lambda: str(text) % values, str)()


def valid_days(help_text) -> forms.IntegerField:
    """How many days an invitation link stays valid (1 to 30)."""
    return forms.IntegerField(
        label=gettext_lazy("Valid for (days)"),
        min_value=1,
        max_value=30,
        initial=INVITE_DAYS,
        help_text=help_text,
    )


class InviteForm(forms.Form):
    """One invitation link: a therapist's to a client, or a clinic's to a therapist."""

    email = forms.EmailField(
        label=gettext_lazy("Their email address (optional)"),
        required=False,
        help_text=gettext_lazy(
            "Only kept so you can tell your invitations apart; nothing is sent to it."
        ),
    )
    days = valid_days(
        gettext_lazy("The link stops working after this many days, or once it is used.")
    )


class InviteListForm(forms.Form):
    """Who to invite, by e-mail: one address or a list. All or nothing: if any line cannot be
    used, nobody is invited and every such line is listed with the reason (`refused`)."""

    kind = forms.ChoiceField(
        label=gettext_lazy("Invite"),
        choices=[
            (Invite.Kind.THERAPIST, gettext_lazy("Therapists, to join the clinic")),
            (
                Invite.Kind.CLIENT,
                gettext_lazy("Clients, to link with one of the clinic's therapists"),
            ),
        ],
        initial=Invite.Kind.THERAPIST,
        widget=forms.RadioSelect,
    )
    therapist = forms.ModelChoiceField(
        label=gettext_lazy("For clients: the therapist they link with"),
        queryset=User.objects.none(),
        required=False,
        empty_label=gettext_lazy("(choose a therapist)"),
        help_text=gettext_lazy("Each client chooses what, if anything, to share with them."),
    )
    addresses = forms.CharField(
        label=gettext_lazy("E-mail addresses"),
        required=False,
        widget=Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text=_formatted(
            gettext_lazy("One per line, or separated by commas; at most %(most)s at a time."),
            most=INVITES_PER_LIST,
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("Or a CSV file of addresses"),
        required=False,
        help_text=gettext_lazy(
            "Saved as CSV (UTF-8). Every cell with an @ in it is taken as an address; a "
            "first line without one (a header) is skipped."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    days = valid_days(
        gettext_lazy("Each link stops working after this many days, or once it is used.")
    )

    def __init__(self, *args, admin: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.admin = admin
        self.fields["therapist"].queryset = User.objects.filter(
            clinic_id=admin.clinic_id, role=Role.THERAPIST, is_active=True
        ).order_by("display_name", "email")
        limit_length(self.fields["addresses"], INVITE_LIST_BYTES, gettext_lazy("the list"))
        self.refused: list[invitations.Refusal] = []
        self.addresses: list[str] = []

    def clean_file(self) -> bytes | None:
        upload = self.cleaned_data.get("file")
        if not upload:
            return None
        if upload.size > INVITE_LIST_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s KB; please split it.")
                % {"size": INVITE_LIST_BYTES // 1024}
            )
        return upload.read()

    def clean(self):
        data = super().clean()
        kind, therapist = data.get("kind"), data.get("therapist")
        if kind == Invite.Kind.CLIENT and therapist is None and "therapist" not in self.errors:
            self.add_error("therapist", _("Please choose the therapist these clients link with."))
        if "addresses" in self.errors or "file" in self.errors:
            return data
        found = invitations.read_addresses(data.get("addresses", ""), data.get("file"))
        if not found.addresses and not found.refused:
            self.add_error("addresses", _("Please give at least one e-mail address."))
            return data
        if found.too_many:
            self.add_error(
                None,
                _(
                    "That is %(n)s addresses; please send at most %(most)s at a time (nobody "
                    "was invited)."
                )
                % {"n": len(found.addresses), "most": INVITES_PER_LIST},
            )
        if kind:
            self._refuse_known(found, kind, therapist)
        self.addresses, self.refused = found.addresses, found.refused
        if found.refused:
            n = len(found.refused)
            self.add_error(
                None,
                ngettext(
                    "Nobody was invited: %(n)s line could not be used (listed below). Correct "
                    "or remove them, and send the list again.",
                    "Nobody was invited: %(n)s lines could not be used (listed below). Correct "
                    "or remove them, and send the list again.",
                    n,
                )
                % {"n": n},
            )
        return data

    def _refuse_known(self, found: invitations.AddressList, kind: str, therapist) -> None:
        if not found.addresses:
            return
        if kind == Invite.Kind.THERAPIST:
            # Only for therapists: whether a client has an account is not the clinic's to know.
            taken = (
                User.objects.annotate(address=Lower("email"))
                .filter(address__in=found.addresses)
                .values_list("address", flat=True)
            )
            for address in sorted(set(taken), key=found.addresses.index):
                found.refuse(address, _("This address already has an account."))
        pending = (
            invitations.waiting(invitations.managed_invites(self.admin))
            .annotate(address=Lower("email"))
            .filter(kind=kind, address__in=found.addresses)
        )
        if kind == Invite.Kind.CLIENT:
            pending = pending.filter(therapist=therapist)
        for address in sorted(
            set(pending.values_list("address", flat=True)), key=found.addresses.index
        ):
            found.refuse(
                address,
                _(
                    "An invitation is already waiting for this address: send it again from the "
                    "list of invitations instead."
                ),
            )

    @property
    def refused_shown(self) -> list[invitations.Refusal]:
        return self.refused[:REFUSED_SHOWN]

    @property
    def refused_more(self) -> int:
        return max(len(self.refused) - REFUSED_SHOWN, 0)


class InvitationTextForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Your own opening words (optional)"),
        required=False,
        widget=Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "They replace the first paragraph of your invitation e-mails; the link, the "
            "code and the date it expires always follow. Leave empty for the standard words."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit_length(self.fields["text"], INVITATION_TEXT, gettext_lazy("the opening words"))
