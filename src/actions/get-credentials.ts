// get-credentials: what an operator needs to pull by hand (skopeo, ctr --user, crane).
import { actionSet } from '../juju/index.js';
import { action, registryAccess } from './common.js';

export const getCredentialsAction = action(async (deps) => {
  const access = await registryAccess(deps);
  await actionSet(deps.runner, {
    url: access.url,
    netloc: access.netloc,
    tls: access.tls,
    'ca-cert': access.caPem,
    username: access.auth?.user,
    // action-set takes values only as arguments: the password is briefly in this unit's process list.
    password: access.auth?.password,
  });
});
