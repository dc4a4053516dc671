import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { AuthenticatedSession } from '../services/session.service';

/** The caller's `AuthenticatedSession` ({session, user}); use behind `SessionGuard`. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): AuthenticatedSession => {
  return context.switchToHttp().getRequest<Request>().user as AuthenticatedSession;
});
