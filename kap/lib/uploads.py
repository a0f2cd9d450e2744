"""Files people upload, kept in memory only: an export or a pack is read, checked and stored as
data, and never left behind in a temporary file whose bytes stay on the disk after it is removed.

`@memory_upload(limit)` on a view reads its uploads with MemoryOnlyUpload (refusing, without
reading further, one that passes the limit: the view then sees `request.upload_too_large`);
UploadForm is the one-file form the upload pages show.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import wraps

from django import forms
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect


class MemoryOnlyUpload(FileUploadHandler):
    """Keeps an upload in memory, never in a temporary file: an export is what the person wrote,
    in plain text, and a temporary file's bytes stay on the disk after it is removed."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = io.BytesIO()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        self.file.write(raw_data)

    def file_complete(self, file_size):
        self.file.seek(0)
        return InMemoryUploadedFile(
            self.file,
            self.field_name,
            self.file_name,
            self.content_type,
            file_size,
            self.charset,
            self.content_type_extra,
        )


def memory_upload(limit: Callable[[], int]):
    """Read uploads with MemoryOnlyUpload. The CSRF check would read the body before the handler
    is set, so it is made here, after, as Django's documentation on upload handlers says."""

    def decorator(view):
        protected = csrf_protect(view)

        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            request.upload_handlers = [MemoryOnlyUpload(request, limit())]
            request.upload_too_large = False
            return protected(request, *args, **kwargs)

        return wrapper

    return decorator


class UploadForm(forms.Form):
    file = forms.FileField(
        error_messages={
            "required": gettext_lazy("Choose a file first."),
            "empty": gettext_lazy("That file is empty."),
        }
    )

    def __init__(self, *args, label: str, help_text: str, accept: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].label = label
        self.fields["file"].help_text = help_text
        self.fields["file"].widget.attrs["accept"] = accept

    def read(self, limit: int) -> bytes:
        # One byte over the limit is enough to refuse the file without reading all of it.
        return self.cleaned_data["file"].read(limit + 1)
