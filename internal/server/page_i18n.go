package server

import "fmt"

// pageMessages are the texts of the pages' own helpers (one message per
// fault of a field, the script's buttons), in both languages, merged into
// messages at start like the staff console's.
var pageMessages = map[string]map[string]string{
	"en": { // #nosec G101 -- page texts, not credentials
		"error.field.password_short":   "The password is too short: use at least 12 characters.",
		"error.field.password_long":    "The password is too long: use at most 128 characters.",
		"error.field.password_common":  "This password is too common or too easy to guess. A few unrelated words make a strong one.",
		"error.field.password_wrong":   "The password is not correct.",
		"error.field.required":         "This field is required.",
		"error.field.reason":           "Say why, in at least 3 words.",
		"error.field.field":            "Choose a value.",
		"error.field.role":             "Choose a role.",
		"staff.customer.missing_title": "No such customer",
		"staff.customer.missing":       "There is no customer with this id. The customer may have been erased, or the id is mistyped.",
		"staff.customer.back":          "Search customers",
		"account.sections":             "Account sections",
		"security.network":             "network",
		"staff.id":                     "id",
		"field.country_choose":         "Choose a country",
		"account.section.profile":      "Profile",
		"account.section.contact":      "Phones and addresses",
		"account.section.security":     "Security",
		"account.section.activity":     "Activity",
		"account.section.privacy":      "Privacy",
		"confirm.delete_phone":         "Delete this phone number?",
		"confirm.delete_address":       "Delete this address?",
		"confirm.revoke_others":        "Sign out every other device?",
		"confirm.mfa_reset":            "Remove this customer's second factor?",
		"confirm.lock":                 "Lock this account? The customer will not be able to sign in.",
		"confirm.revoke_sessions":      "End every session of this customer?",
		"confirm.erase_request":        "Ask for this customer's erasure? A second lead must approve it.",
		"staff.erase.title":            "Erase this customer?",
		"staff.erase.lead":             "You are approving the erasure of customer",
		"staff.erase.what":             "What will be erased",
		"staff.erase.final":            "The customer's key is destroyed: this cannot be undone. The audit trail keeps that it happened, not the data.",
		"staff.erase.go":               "Erase now",
		"staff.erase.cancel":           "Back to approvals, erase nothing",
		"totp.step_link":               "On this phone? Open your authenticator app directly:",
		"totp.open_app":                "add to authenticator app",
		"totp.codes_copy":              "Copy the codes",
		"totp.codes_copied":            "Copied",
		"totp.codes_download":          "Download as a text file",
	},
	"es": { // #nosec G101 -- page texts, not credentials
		"error.field.password_short":   "La contraseña es demasiado corta: usa al menos 12 caracteres.",
		"error.field.password_long":    "La contraseña es demasiado larga: usa como máximo 128 caracteres.",
		"error.field.password_common":  "Esta contraseña es demasiado común o fácil de adivinar. Unas cuantas palabras sin relación forman una buena.",
		"error.field.password_wrong":   "La contraseña no es correcta.",
		"error.field.required":         "Este campo es obligatorio.",
		"error.field.reason":           "Di por qué, con al menos 3 palabras.",
		"error.field.field":            "Elige un dato.",
		"error.field.role":             "Elige un rol.",
		"staff.customer.missing_title": "No existe ese cliente",
		"staff.customer.missing":       "No hay ningún cliente con este id. Puede que se haya borrado o que el id esté mal escrito.",
		"staff.customer.back":          "Buscar clientes",
		"account.sections":             "Secciones de la cuenta",
		"security.network":             "red",
		"staff.id":                     "id",
		"field.country_choose":         "Elige un país",
		"account.section.profile":      "Perfil",
		"account.section.contact":      "Teléfonos y direcciones",
		"account.section.security":     "Seguridad",
		"account.section.activity":     "Actividad",
		"account.section.privacy":      "Privacidad",
		"confirm.delete_phone":         "¿Eliminar este teléfono?",
		"confirm.delete_address":       "¿Eliminar esta dirección?",
		"confirm.revoke_others":        "¿Cerrar la sesión en todos los demás dispositivos?",
		"confirm.mfa_reset":            "¿Quitar el segundo factor de este cliente?",
		"confirm.lock":                 "¿Bloquear esta cuenta? El cliente no podrá iniciar sesión.",
		"confirm.revoke_sessions":      "¿Cerrar todas las sesiones de este cliente?",
		"confirm.erase_request":        "¿Pedir el borrado de este cliente? Otro responsable debe aprobarlo.",
		"staff.erase.title":            "¿Borrar este cliente?",
		"staff.erase.lead":             "Vas a aprobar el borrado del cliente",
		"staff.erase.what":             "Qué se borrará",
		"staff.erase.final":            "Se destruye la clave del cliente: no se puede deshacer. El registro de auditoría conserva que ocurrió, no los datos.",
		"staff.erase.go":               "Borrar ahora",
		"staff.erase.cancel":           "Volver a aprobaciones sin borrar nada",
		"totp.step_link":               "¿Estás en este teléfono? Abre directamente tu app de autenticación:",
		"totp.open_app":                "añadir a la app de autenticación",
		"totp.codes_copy":              "Copiar los códigos",
		"totp.codes_copied":            "Copiados",
		"totp.codes_download":          "Descargar como archivo de texto",
	},
}

func init() {
	for lang, texts := range pageMessages {
		for k, v := range texts {
			if _, dup := messages[lang][k]; dup {
				panic(fmt.Sprintf("message %q defined twice (%s)", k, lang))
			}
			messages[lang][k] = v
		}
	}
}
