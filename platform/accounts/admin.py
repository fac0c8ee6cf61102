from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Institution, OidcIdentity, OidcLoginRule, User


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "country"]
    search_fields = ["name", "code"]


@admin.register(User)
class PlatformUserAdmin(UserAdmin):
    list_display = ["username", "email", "institution", "is_staff", "is_active"]
    list_filter = ["institution", "is_staff", "is_active"]
    fieldsets = (*UserAdmin.fieldsets, ("Institution", {"fields": ["institution"]}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("Institution", {"fields": ["institution"]}))


@admin.register(OidcLoginRule)
class OidcLoginRuleAdmin(admin.ModelAdmin):
    list_display = ["priority", "issuer", "claim", "value", "institution", "project", "role"]
    list_filter = ["is_active", "institution", "issuer"]
    search_fields = ["value", "issuer"]


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "issuer", "subject", "last_login_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["issuer", "subject", "user", "created_at", "last_login_at"]
