"""Pages without a login, each authorised by its URL: a recipient's short link
(`/s/<code>`, texting.links) and an MMS attachment fetched by the provider
(`/m/<token>/<name>`, texting.media)."""

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .links import is_click, link_click_record, link_resolve
from .media import media_for_token


@require_safe
@never_cache
def short_link_redirect(request: HttpRequest, code: str) -> HttpResponse:
    """302 to the campaign's long URL and a `link_click` on the recipient's history;
    404 for an unknown or forged code. A HEAD request or a link-preview bot gets the
    same redirect and records nothing (texting.links.is_click)."""
    if is_click(method=request.method, user_agent=request.headers.get("User-Agent", "")):
        click = link_click_record(code=code)
    else:
        click = link_resolve(code=code)
    if click is None:
        raise Http404("No such link.")
    return HttpResponseRedirect(click.url)


@require_safe
def media_file(request: HttpRequest, token: str, name: str) -> HttpResponse:
    """The attachment a signed, unexpired token names (the provider downloads it at
    send time); 404 otherwise, the same for forged, expired and deleted."""
    media = media_for_token(token)
    if media is None:
        raise Http404("No such media.")
    try:
        handle = media.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("No such media.") from exc
    response = FileResponse(handle, content_type=media.content_type)
    response["Content-Length"] = str(media.size)
    response["Cache-Control"] = "private, max-age=300"
    return response
