"""HTML pages: home, login (several cookies in one response) and the account greeting."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

ACCOUNT_URL = "/account/"
LOGIN_URL = "/account/login"


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "account/home.html")


# csrf_exempt: a demo endpoint that proxy tests drive with a bare form POST (no prior GET to
# obtain a token). It only ever creates a fresh session for the demo user, so the exposure is
# login CSRF on a demo account; a real login form would keep CSRF protection.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "account/login.html")
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None:
        return render(request, "account/login.html", {"error": True}, status=401)
    login(request, user)
    response = HttpResponseRedirect(ACCOUNT_URL)
    # Legacy clients expect these next to the session cookie: several Set-Cookie headers in
    # one response is exactly what a proxy must not fold into one.
    response.set_cookie("prefs", "lang%3Den", path="/")
    response.set_cookie(
        "last_visit", timezone.localdate().isoformat(), httponly=True, samesite="Lax"
    )
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")


@require_GET
def account_home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(LOGIN_URL)
    return render(request, "account/account.html")
