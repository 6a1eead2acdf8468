export interface Credentials {
  readonly clientId: string
  readonly secret: string
}

export type AuthMethod = 'client_secret_basic' | 'client_secret_post'

/** The methods Keyhole accepts at every authenticated endpoint (published in metadata). */
export const AUTH_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post']
