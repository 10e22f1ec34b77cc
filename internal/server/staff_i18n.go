package server

import (
	"fmt"
	"strings"

	"github.com/resguardo/resguardo"
)

// staffMessages are the staff console's texts, in both languages. They are
// kept apart from the customer site's catalog and merged into messages at
// start; a key defined twice stops the program there rather than silently
// showing one of the two texts.
var staffMessages = map[string]map[string]string{
	"en": { // #nosec G101 -- page texts, not credentials
		"staff.nav.customers":  "Customers",
		"staff.nav.approvals":  "Approvals",
		"staff.nav.audit":      "Audit trail",
		"staff.nav.team":       "Team",
		"staff.code.title":     "Enter your code",
		"staff.code.lead":      "Enter the 6-digit code your authenticator app shows for resguardo staff.",
		"staff.code.cancel":    "Cancel and sign out",
		"staff.reauth.lead":    "This operation needs a recent check: enter your password or a code from your authenticator app.",
		"staff.enrol.title":    "Set up your staff account",
		"staff.enrol.lead":     "This enrolment link is for",
		"staff.enrol.password": "Choose a password",
		"staff.enrol.hint":     "12 to 128 characters. A passphrase of several words is easiest to type and hardest to guess.",
		"staff.enrol.continue": "Continue",
		"staff.enrol.totp":     "Add the second factor",
		"staff.enrol.done":     "Your staff account is ready. Sign in with your password and a code.",
		"staff.home.title":     "Staff console",
		"staff.home.signed_in": "Signed in as",
		"staff.home.customers": "Find a customer by exact e-mail address, phone number or id, and help them.",
		"staff.home.approvals": "Requests that need a second person: exports, erasures, new staff accounts, role grants, disabling an administrator.",
		"staff.home.audit":     "Every security event and every staff access, and the chain's verification.",
		"staff.home.team":      "Invite, disable and promote staff members.",
		"staff.role.agent":     "agent",
		"staff.role.lead":      "lead",
		"staff.role.admin":     "administrator",
		"staff.role.auditor":   "auditor",

		"staff.customers.title":   "Customers",
		"staff.customers.q":       "E-mail address, phone number (with +country code) or customer id",
		"staff.customers.hint":    "Exact matches only. What you type is not kept in the address bar or in the page.",
		"staff.customers.search":  "Search",
		"staff.customers.results": "Results",
		"staff.customers.none":    "No customer matches.",
		"staff.customer.title":    "Customer",
		"staff.customer.data":     "Customer data (masked)",
		"staff.customer.mfa":      "Two-step verification",
		"staff.customer.state":    "State",
		"staff.customer.locked":   "locked",
		"staff.customer.active":   "active",
		"staff.customer.created":  "Customer since",
		"staff.customer.on":       "on",
		"staff.customer.off":      "off",
		"staff.reveal.title":      "Reveal one value",
		"staff.reveal.lead":       "Only when the task needs it. The reason is recorded, the customer sees that staff looked, and reveals are limited per hour.",
		"staff.reveal.field":      "Value",
		"staff.reveal.reason":     "Reason (at least 3 words)",
		"staff.reveal.submit":     "Reveal",
		"staff.reveal.address":    "Address",
		"staff.reveal.shown":      "Revealed",
		"staff.reveal.once":       "Shown this once: it is not stored in this page or in the address bar.",
		"staff.edit.title":        "Edit",
		"staff.edit.name":         "New full name",
		"staff.edit.replace":      "Replace the address",
		"staff.edit.add_address":  "Add an address",
		"staff.critical.title":    "Critical operations",
		"staff.critical.lead":     "Leads only. You will be asked to confirm your password or a code if you have not in the last 5 minutes.",
		"staff.critical.email":    "New e-mail address (the customer confirms it from a link)",
		"staff.critical.email_go": "Change e-mail address",
		"staff.critical.phone":    "Add a phone number",
		"staff.critical.mfa":      "Reset two-step verification",
		"staff.critical.lock":     "Lock the account",
		"staff.critical.unlock":   "Unlock the account",
		"staff.critical.revoke":   "Sign the customer out everywhere",
		"staff.foureyes.title":    "Export and erasure",
		"staff.foureyes.lead":     "A second lead must approve each request on the approvals page.",
		"staff.foureyes.export":   "Request an export of this customer's data",
		"staff.foureyes.erase":    "Request the erasure of this customer",

		"staff.flash.saved":         "Saved.",
		"staff.flash.email_sent":    "A confirmation link was sent to the new address.",
		"staff.flash.locked":        "The account is locked.",
		"staff.flash.unlocked":      "The account is unlocked.",
		"staff.flash.mfa_reset":     "Two-step verification was turned off; the customer was told by e-mail.",
		"staff.flash.revoked":       "Every session and app sign-in of the customer ended.",
		"staff.flash.requested":     "Request recorded. A second person must approve it.",
		"staff.flash.approved":      "Approved.",
		"staff.flash.refused":       "Refused.",
		"staff.flash.disabled":      "The staff member is disabled and signed out.",
		"staff.flash.invited":       "Invitation recorded. A second administrator must approve it; then the enrolment link goes to the invitee by e-mail.",
		"staff.flash.invite_mailed": "The enrolment link is on its way to the invitee by e-mail.",

		"staff.approvals.title":        "Approvals",
		"staff.approvals.lead":         "Nobody approves their own request. Requests expire after 24 hours.",
		"staff.approvals.kind":         "Request",
		"staff.approvals.subject":      "Subject",
		"staff.approvals.by":           "Requested by",
		"staff.approvals.at":           "Requested",
		"staff.approvals.status":       "Status",
		"staff.approvals.actions":      "Decision",
		"staff.approvals.you":          "you",
		"staff.approvals.approve":      "Approve",
		"staff.approvals.refuse":       "Refuse",
		"staff.approvals.download":     "Download (once)",
		"staff.approvals.none":         "No requests.",
		"staff.approvals.own":          "You cannot approve your own request: a second person must.",
		"staff.approvals.not_pending":  "This request is no longer pending (decided or expired).",
		"staff.approvals.not_approved": "This export is not approved, was already downloaded, has expired, or is not yours.",
		"staff.approvals.erased":       "The customer was erased:",
		"staff.kind.customer.export":   "Export",
		"staff.kind.customer.erase":    "Erasure",
		"staff.kind.staff.grant":       "Role grant",
		"staff.kind.staff.create":      "New staff account (its enrolment link goes to the invitee by e-mail)",
		"staff.kind.staff.disable":     "Disable an administrator",
		"staff.status.pending":         "pending",
		"staff.status.approved":        "approved",
		"staff.status.done":            "carried out",
		"staff.status.refused":         "refused",
		"staff.status.expired":         "expired",

		"staff.audit.title":      "Audit trail",
		"staff.audit.verify":     "Verify the whole chain",
		"staff.audit.verify_ok":  "The chain verifies: no entry altered, removed or reordered.",
		"staff.audit.verify_bad": "The chain does not verify:",
		"staff.audit.entries":    "entries",
		"staff.audit.action":     "Action (or its beginning, e.g. staff.)",
		"staff.audit.actor":      "Actor id",
		"staff.audit.target":     "Target id",
		"staff.audit.filter":     "Filter",
		"staff.audit.seq":        "#",
		"staff.audit.when":       "When (UTC)",
		"staff.audit.who":        "Actor",
		"staff.audit.what":       "Action",
		"staff.audit.about":      "Target",
		"staff.audit.outcome":    "Outcome",
		"staff.audit.fields":     "Fields",
		"staff.audit.reason":     "Reason",
		"staff.audit.older":      "Older entries",
		"staff.audit.none":       "No entries.",

		"staff.team.title":              "Team",
		"staff.team.email":              "E-mail address",
		"staff.team.role":               "Role",
		"staff.team.state":              "State",
		"staff.team.actions":            "Actions",
		"staff.state.active":            "active",
		"staff.state.not_enrolled":      "not enrolled yet",
		"staff.state.disabled":          "disabled",
		"staff.state.awaiting_approval": "awaiting a second administrator's approval",
		"staff.state.link_mailed":       "enrolment link sent by e-mail",
		"staff.state.link_expired":      "enrolment link expired",
		"staff.team.disable":            "Disable",
		"staff.team.grant":              "Request role",
		"staff.team.grant_role":         "New role",
		"staff.team.invite":             "Invite",
		"staff.team.invite_go":          "Invite",
		"staff.team.invite_note":        "The enrolment link goes only to the invitee's mailbox, never to this page. Agents, leads and administrators need a second administrator's approval first (on the approvals page); an auditor's link is mailed at once. Disabling an administrator also needs a second administrator.",
		"staff.team.you":                "you",

		"staff.enrol.name":                "Your name",
		"staff.enrol.name_hint":           "How colleagues see you in approvals, the audit trail and the team page: 1 to 80 characters.",
		"staff.error.field.name_required": "Enter your name, as colleagues will see it.",
		"staff.error.field.name_length":   "Use a name of 1 to 80 characters.",
		"staff.error.field.name_chars":    "The name must not contain control or invisible formatting characters.",
		"staff.team.name":                 "Name",

		"staff.error.conflict":          "That cannot be done in the current state.",
		"staff.error.field.reason":      "Say why you need to see this value, in at least 3 words.",
		"staff.error.field.field":       "Choose a value of this customer.",
		"staff.error.field.q":           "Search by an exact e-mail address, a phone number with its + country code, or a customer id.",
		"staff.error.field.phones":      fmt.Sprintf("This customer already has the most phone numbers allowed (%d). Remove one first.", resguardo.MaxPhones),
		"staff.error.field.addresses":   fmt.Sprintf("This customer already has the most addresses allowed (%d). Remove one first.", resguardo.MaxAddresses),
		"staff.error.field.role":        "Choose a role.",
		"staff.error.field.action":      "The action filter may hold only letters, digits and . _ - :",
		"staff.error.field.actor":       "The actor id may hold only letters, digits and . _ - :",
		"staff.error.field.target":      "The target id may hold only letters, digits and . _ - :",
		"staff.error.field.limit":       "Show 1 to 100 entries.",
		"staff.error.field.before":      "Give a positive entry number.",
		"staff.error.field.password":    "The password is not correct, or does not meet the rules (12 to 128 characters, not a common password).",
		"staff.error.field.code":        "The code is not correct. Wait for the next one and try again.",
		"staff.error.field.email":       "The e-mail address is not valid.",
		"staff.error.field.customer_id": "Unknown customer.",
	},
	"es": { // #nosec G101 -- page texts, not credentials
		"staff.nav.customers":  "Clientes",
		"staff.nav.approvals":  "Aprobaciones",
		"staff.nav.audit":      "Registro de auditoría",
		"staff.nav.team":       "Equipo",
		"staff.code.title":     "Escribe tu código",
		"staff.code.lead":      "Escribe el código de 6 cifras que muestra tu aplicación de autenticación para resguardo staff.",
		"staff.code.cancel":    "Cancelar y cerrar sesión",
		"staff.reauth.lead":    "Esta operación necesita una comprobación reciente: escribe tu contraseña o un código de tu aplicación de autenticación.",
		"staff.enrol.title":    "Configura tu cuenta de personal",
		"staff.enrol.lead":     "Este enlace de alta es para",
		"staff.enrol.password": "Elige una contraseña",
		"staff.enrol.hint":     "De 12 a 128 caracteres. Una frase de varias palabras es lo más fácil de escribir y lo más difícil de adivinar.",
		"staff.enrol.continue": "Continuar",
		"staff.enrol.totp":     "Añade el segundo factor",
		"staff.enrol.done":     "Tu cuenta de personal está lista. Inicia sesión con tu contraseña y un código.",
		"staff.home.title":     "Consola del personal",
		"staff.home.signed_in": "Sesión iniciada como",
		"staff.home.customers": "Busca a un cliente por su correo, teléfono o id exactos, y ayúdale.",
		"staff.home.approvals": "Solicitudes que necesitan una segunda persona: exportaciones, borrados, nuevas cuentas de personal, concesiones de rol, desactivar a un administrador.",
		"staff.home.audit":     "Cada evento de seguridad y cada acceso del personal, y la verificación de la cadena.",
		"staff.home.team":      "Invita, desactiva y promociona al personal.",
		"staff.role.agent":     "agente",
		"staff.role.lead":      "responsable",
		"staff.role.admin":     "administrador",
		"staff.role.auditor":   "auditor",

		"staff.customers.title":   "Clientes",
		"staff.customers.q":       "Correo electrónico, teléfono (con +prefijo de país) o id de cliente",
		"staff.customers.hint":    "Solo coincidencias exactas. Lo que escribes no queda en la barra de direcciones ni en la página.",
		"staff.customers.search":  "Buscar",
		"staff.customers.results": "Resultados",
		"staff.customers.none":    "Ningún cliente coincide.",
		"staff.customer.title":    "Cliente",
		"staff.customer.data":     "Datos del cliente (enmascarados)",
		"staff.customer.mfa":      "Verificación en dos pasos",
		"staff.customer.state":    "Estado",
		"staff.customer.locked":   "bloqueada",
		"staff.customer.active":   "activa",
		"staff.customer.created":  "Cliente desde",
		"staff.customer.on":       "activada",
		"staff.customer.off":      "desactivada",
		"staff.reveal.title":      "Revelar un dato",
		"staff.reveal.lead":       "Solo si la tarea lo necesita. El motivo queda registrado, el cliente ve que el personal miró, y las revelaciones están limitadas por hora.",
		"staff.reveal.field":      "Dato",
		"staff.reveal.reason":     "Motivo (al menos 3 palabras)",
		"staff.reveal.submit":     "Revelar",
		"staff.reveal.address":    "Dirección",
		"staff.reveal.shown":      "Revelado",
		"staff.reveal.once":       "Se muestra solo esta vez: no queda guardado en esta página ni en la barra de direcciones.",
		"staff.edit.title":        "Editar",
		"staff.edit.name":         "Nuevo nombre completo",
		"staff.edit.replace":      "Sustituir la dirección",
		"staff.edit.add_address":  "Añadir una dirección",
		"staff.critical.title":    "Operaciones críticas",
		"staff.critical.lead":     "Solo responsables. Se te pedirá confirmar tu contraseña o un código si no lo has hecho en los últimos 5 minutos.",
		"staff.critical.email":    "Nuevo correo electrónico (el cliente lo confirma desde un enlace)",
		"staff.critical.email_go": "Cambiar el correo electrónico",
		"staff.critical.phone":    "Añadir un teléfono",
		"staff.critical.mfa":      "Restablecer la verificación en dos pasos",
		"staff.critical.lock":     "Bloquear la cuenta",
		"staff.critical.unlock":   "Desbloquear la cuenta",
		"staff.critical.revoke":   "Cerrar todas las sesiones del cliente",
		"staff.foureyes.title":    "Exportación y borrado",
		"staff.foureyes.lead":     "Otro responsable debe aprobar cada solicitud en la página de aprobaciones.",
		"staff.foureyes.export":   "Solicitar una exportación de los datos de este cliente",
		"staff.foureyes.erase":    "Solicitar el borrado de este cliente",

		"staff.flash.saved":         "Guardado.",
		"staff.flash.email_sent":    "Se ha enviado un enlace de confirmación a la nueva dirección.",
		"staff.flash.locked":        "La cuenta está bloqueada.",
		"staff.flash.unlocked":      "La cuenta está desbloqueada.",
		"staff.flash.mfa_reset":     "Se desactivó la verificación en dos pasos; se avisó al cliente por correo.",
		"staff.flash.revoked":       "Se cerraron todas las sesiones y apps del cliente.",
		"staff.flash.requested":     "Solicitud registrada. Otra persona debe aprobarla.",
		"staff.flash.approved":      "Aprobada.",
		"staff.flash.refused":       "Rechazada.",
		"staff.flash.disabled":      "La persona está desactivada y su sesión cerrada.",
		"staff.flash.invited":       "Invitación registrada. Otro administrador debe aprobarla; después el enlace de alta llega por correo a la persona invitada.",
		"staff.flash.invite_mailed": "El enlace de alta va de camino, por correo, a la persona invitada.",

		"staff.approvals.title":        "Aprobaciones",
		"staff.approvals.lead":         "Nadie aprueba su propia solicitud. Las solicitudes caducan a las 24 horas.",
		"staff.approvals.kind":         "Solicitud",
		"staff.approvals.subject":      "Sobre",
		"staff.approvals.by":           "Solicitada por",
		"staff.approvals.at":           "Fecha",
		"staff.approvals.status":       "Estado",
		"staff.approvals.actions":      "Decisión",
		"staff.approvals.you":          "tú",
		"staff.approvals.approve":      "Aprobar",
		"staff.approvals.refuse":       "Rechazar",
		"staff.approvals.download":     "Descargar (una vez)",
		"staff.approvals.none":         "No hay solicitudes.",
		"staff.approvals.own":          "No puedes aprobar tu propia solicitud: debe hacerlo otra persona.",
		"staff.approvals.not_pending":  "Esta solicitud ya no está pendiente (decidida o caducada).",
		"staff.approvals.not_approved": "Esta exportación no está aprobada, ya se descargó, ha caducado o no es tuya.",
		"staff.approvals.erased":       "Se borró el cliente:",
		"staff.kind.customer.export":   "Exportación",
		"staff.kind.customer.erase":    "Borrado",
		"staff.kind.staff.grant":       "Concesión de rol",
		"staff.kind.staff.create":      "Nueva cuenta de personal (su enlace de alta llega por correo a la persona invitada)",
		"staff.kind.staff.disable":     "Desactivar a un administrador",
		"staff.status.pending":         "pendiente",
		"staff.status.approved":        "aprobada",
		"staff.status.done":            "realizada",
		"staff.status.refused":         "rechazada",
		"staff.status.expired":         "caducada",

		"staff.audit.title":      "Registro de auditoría",
		"staff.audit.verify":     "Verificar toda la cadena",
		"staff.audit.verify_ok":  "La cadena se verifica: ninguna entrada alterada, quitada ni reordenada.",
		"staff.audit.verify_bad": "La cadena no se verifica:",
		"staff.audit.entries":    "entradas",
		"staff.audit.action":     "Acción (o su comienzo, p. ej. staff.)",
		"staff.audit.actor":      "Id del actor",
		"staff.audit.target":     "Id del objeto",
		"staff.audit.filter":     "Filtrar",
		"staff.audit.seq":        "n.º",
		"staff.audit.when":       "Cuándo (UTC)",
		"staff.audit.who":        "Actor",
		"staff.audit.what":       "Acción",
		"staff.audit.about":      "Objeto",
		"staff.audit.outcome":    "Resultado",
		"staff.audit.fields":     "Campos",
		"staff.audit.reason":     "Motivo",
		"staff.audit.older":      "Entradas anteriores",
		"staff.audit.none":       "No hay entradas.",

		"staff.team.title":              "Equipo",
		"staff.team.email":              "Correo electrónico",
		"staff.team.role":               "Rol",
		"staff.team.state":              "Estado",
		"staff.team.actions":            "Acciones",
		"staff.state.active":            "activa",
		"staff.state.not_enrolled":      "alta pendiente",
		"staff.state.disabled":          "desactivada",
		"staff.state.awaiting_approval": "pendiente de la aprobación de otro administrador",
		"staff.state.link_mailed":       "enlace de alta enviado por correo",
		"staff.state.link_expired":      "enlace de alta caducado",
		"staff.team.disable":            "Desactivar",
		"staff.team.grant":              "Solicitar rol",
		"staff.team.grant_role":         "Nuevo rol",
		"staff.team.invite":             "Invitar",
		"staff.team.invite_go":          "Invitar",
		"staff.team.invite_note":        "El enlace de alta va solo al buzón de la persona invitada, nunca a esta página. Agentes, responsables y administradores necesitan antes la aprobación de otro administrador (en la página de aprobaciones); el enlace de un auditor se envía al momento. Desactivar a un administrador también necesita a otro administrador.",
		"staff.team.you":                "tú",

		"staff.enrol.name":                "Tu nombre",
		"staff.enrol.name_hint":           "Cómo te ven tus compañeros en las aprobaciones, el registro de auditoría y la página del equipo: de 1 a 80 caracteres.",
		"staff.error.field.name_required": "Escribe tu nombre, tal como lo verán tus compañeros.",
		"staff.error.field.name_length":   "Usa un nombre de 1 a 80 caracteres.",
		"staff.error.field.name_chars":    "El nombre no puede contener caracteres de control ni de formato invisibles.",
		"staff.team.name":                 "Nombre",

		"staff.error.conflict":          "Eso no se puede hacer en el estado actual.",
		"staff.error.field.reason":      "Di por qué necesitas ver este dato, con al menos 3 palabras.",
		"staff.error.field.field":       "Elige un dato de este cliente.",
		"staff.error.field.q":           "Busca por un correo exacto, un teléfono con su + prefijo de país o un id de cliente.",
		"staff.error.field.phones":      fmt.Sprintf("Este cliente ya tiene el máximo de teléfonos permitido (%d). Elimina uno primero.", resguardo.MaxPhones),
		"staff.error.field.addresses":   fmt.Sprintf("Este cliente ya tiene el máximo de direcciones permitido (%d). Elimina una primero.", resguardo.MaxAddresses),
		"staff.error.field.role":        "Elige un rol.",
		"staff.error.field.action":      "El filtro de acción solo admite letras, cifras y . _ - :",
		"staff.error.field.actor":       "El id del actor solo admite letras, cifras y . _ - :",
		"staff.error.field.target":      "El id del objeto solo admite letras, cifras y . _ - :",
		"staff.error.field.limit":       "Muestra de 1 a 100 entradas.",
		"staff.error.field.before":      "Indica un número de entrada positivo.",
		"staff.error.field.password":    "La contraseña no es correcta o no cumple las reglas (de 12 a 128 caracteres, no una contraseña común).",
		"staff.error.field.code":        "El código no es correcto. Espera al siguiente y vuelve a intentarlo.",
		"staff.error.field.email":       "El correo electrónico no es válido.",
		"staff.error.field.customer_id": "Cliente desconocido.",
	},
}

func init() {
	for lang, texts := range staffMessages {
		for k, v := range texts {
			if _, dup := messages[lang][k]; dup {
				panic(fmt.Sprintf("message %q defined twice (%s)", k, lang))
			}
			messages[lang][k] = v
		}
	}
}

// staffFormFailure is formFailure with the console's own wording where the
// customer site's would be wrong ("already on your account").
// staffNameFault picks one message per fault of a display name.
func staffNameFault(detail string) string {
	switch {
	case detail == "is required":
		return "staff.error.field.name_required"
	case strings.HasPrefix(detail, "must be "):
		return "staff.error.field.name_length"
	}
	return "staff.error.field.name_chars"
}

func staffFormFailure(err error) (keys []formError, status int, ok bool) {
	keys, status, ok = formFailure(err)
	if !ok {
		return keys, status, ok
	}
	if fields := resguardo.ErrorFields(err); len(fields) > 0 {
		for i, f := range fields {
			k := "staff.error.field." + f.Field
			if f.Field == "name" {
				k = staffNameFault(f.Detail)
			}
			if fk := fieldMessageKey(f); f.Field == "password" && fk != "error.field.password" && fk != "error.field.password_wrong" {
				k = fk // a new password's specific fault reads the same on both sites
			}
			if messages["en"][k] != "" && i < len(keys) {
				keys[i].Key = k
			}
		}
		return keys, status, ok
	}
	if resguardo.ErrorCode(err) == resguardo.EConflict {
		keys = []formError{{Key: "staff.error.conflict"}}
	}
	return keys, status, ok
}
