package server

import "fmt"

// pageMessages are the texts of the pages' own helpers (one message per
// fault of a field, the script's buttons), in both languages, merged into
// messages at start like the staff console's.
var pageMessages = map[string]map[string]string{
	"en": { // #nosec G101 -- page texts, not credentials
		"error.field.password_short":  "The password is too short: use at least 12 characters.",
		"error.field.password_long":   "The password is too long: use at most 128 characters.",
		"error.field.password_common": "This password is too common or too easy to guess. A few unrelated words make a strong one.",
		"error.field.password_wrong":  "The password is not correct.",
		"error.field.required":        "This field is required.",
		"error.field.reason":          "Say why, in at least 3 words.",
		"error.field.field":           "Choose a value.",
		"error.field.role":            "Choose a role.",
	},
	"es": { // #nosec G101 -- page texts, not credentials
		"error.field.password_short":  "La contraseña es demasiado corta: usa al menos 12 caracteres.",
		"error.field.password_long":   "La contraseña es demasiado larga: usa como máximo 128 caracteres.",
		"error.field.password_common": "Esta contraseña es demasiado común o fácil de adivinar. Unas cuantas palabras sin relación forman una buena.",
		"error.field.password_wrong":  "La contraseña no es correcta.",
		"error.field.required":        "Este campo es obligatorio.",
		"error.field.reason":          "Di por qué, con al menos 3 palabras.",
		"error.field.field":           "Elige un dato.",
		"error.field.role":            "Elige un rol.",
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
