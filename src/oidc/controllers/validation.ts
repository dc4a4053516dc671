import { ValidationPipe } from '@nestjs/common';

/** Strict body/query validation for the module's routes: unknown fields are an error, not ignored. */
export const strictValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  stopAtFirstError: true,
});
